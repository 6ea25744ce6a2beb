import type { Summary } from './api';
import { formatCount, formatPeriod } from './format';
import type { ApiState } from './useApi';

interface WidgetProps {
  state: ApiState<Summary>;
  expanded: boolean;
  onOpen: () => void;
}

/** The dashboard card: accounts that used SMTP AUTH in the newest 7 days of data. */
export function Widget({ state, expanded, onOpen }: WidgetProps) {
  const summary = state.data;

  return (
    <button
      type="button"
      className="widget"
      data-testid="widget-accounts"
      aria-expanded={expanded}
      aria-controls="flyout"
      onClick={onOpen}
      disabled={!summary}
    >
      <span className="widget-title">SMTP AUTH clients</span>
      {summary && (
        <>
          <span className="widget-count" data-testid="widget-count">
            {formatCount(summary.accounts)}
          </span>
          <span className="widget-text">
            {summary.accounts === 1 ? 'account' : 'accounts'} used SMTP AUTH to send{' '}
            {formatCount(summary.messages)} {summary.messages === 1 ? 'message' : 'messages'}
          </span>
          <span className="widget-period">
            Last 7 days: {formatPeriod(summary.from, summary.to)}
          </span>
          <span className="widget-more">Show details</span>
        </>
      )}
      {state.loading && !summary && <span className="widget-text">Loading…</span>}
      {state.error && (
        <span className="widget-text error-text" role="alert">
          {state.error.message}
        </span>
      )}
    </button>
  );
}
