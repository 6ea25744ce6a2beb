import type { DomainList } from './api';
import { formatCount } from './format';

export type Preset = '7' | '30' | '90' | 'all' | 'custom';

export const PRESETS: { preset: Exclude<Preset, 'custom'>; label: string }[] = [
  { preset: '7', label: '7 days' },
  { preset: '30', label: '30 days' },
  { preset: '90', label: '90 days' },
  { preset: 'all', label: 'All' },
];

/** The user's filter choices. The dates of a preset are computed from the newest day with data. */
export interface FilterChoice {
  preset: Preset;
  customFrom: string;
  customTo: string;
  domain: string;
  /** The search box as typed; the report applies it after a short pause. */
  searchText: string;
}

interface FiltersProps {
  choice: FilterChoice;
  from: string;
  to: string;
  domains: DomainList | null;
  dateError: string | null;
  onChange: (change: Partial<FilterChoice>) => void;
}

/** Date range presets and inputs, the sender domain selector and the search box. */
export function Filters({ choice, from, to, domains, dateError, onChange }: FiltersProps) {
  const domainOptions = domains?.domains ?? [];
  const selectedMissing =
    choice.domain !== '' && !domainOptions.some((d) => d.senderDomain === choice.domain);

  return (
    <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
      <fieldset className="filter-group">
        <legend>Date range</legend>
        <div className="segmented" role="group" aria-label="Date range presets">
          {PRESETS.map(({ preset, label }) => (
            <button
              key={preset}
              type="button"
              aria-pressed={choice.preset === preset}
              data-testid={`preset-${preset}`}
              onClick={() => onChange({ preset })}
            >
              {label}
            </button>
          ))}
        </div>
        <div className="date-inputs">
          <label>
            From
            <input
              type="date"
              value={choice.preset === 'custom' ? choice.customFrom : from}
              data-testid="date-from"
              onChange={(event) =>
                onChange({ preset: 'custom', customFrom: event.target.value, customTo: to })
              }
            />
          </label>
          <label>
            To
            <input
              type="date"
              value={choice.preset === 'custom' ? choice.customTo : to}
              data-testid="date-to"
              onChange={(event) =>
                onChange({ preset: 'custom', customFrom: from, customTo: event.target.value })
              }
            />
          </label>
        </div>
        {dateError && (
          <p className="error-text" role="alert">
            {dateError}
          </p>
        )}
      </fieldset>

      <label className="filter-group">
        <span className="filter-label">Show data for</span>
        <select
          value={choice.domain}
          data-testid="domain-select"
          onChange={(event) => onChange({ domain: event.target.value })}
        >
          <option value="">All sender domains</option>
          {selectedMissing && <option value={choice.domain}>{choice.domain} (0)</option>}
          {domainOptions.map((d) => (
            <option key={d.senderDomain} value={d.senderDomain}>
              {d.senderDomain} ({formatCount(d.messages)})
            </option>
          ))}
        </select>
      </label>

      <label className="filter-group filter-search">
        <span className="filter-label">Search</span>
        <input
          type="search"
          value={choice.searchText}
          placeholder="Account or sender address"
          data-testid="search"
          onChange={(event) => onChange({ searchText: event.target.value })}
        />
      </label>
    </form>
  );
}
