export type PivotView = 'both' | 'chart' | 'table';

const VIEWS: { view: PivotView; label: string }[] = [
  { view: 'both', label: 'Chart and table' },
  { view: 'chart', label: 'Chart' },
  { view: 'table', label: 'Table' },
];

interface ViewToggleProps {
  view: PivotView;
  onChange: (view: PivotView) => void;
}

/** Chooses whether a pivot shows its chart, its details table or both. */
export function ViewToggle({ view, onChange }: ViewToggleProps) {
  return (
    <div className="segmented view-toggle" role="group" aria-label="Show">
      {VIEWS.map((option) => (
        <button
          key={option.view}
          type="button"
          aria-pressed={view === option.view}
          data-testid={`view-${option.view}`}
          onClick={() => onChange(option.view)}
        >
          {option.label}
        </button>
      ))}
    </div>
  );
}
