import type { Insights, Summary } from './api';
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
      {state.error?.status === NOT_IMPLEMENTED ? (
        <span className="widget-text" data-testid="widget-insights-unavailable">
          Not available on this store: insights need a DuckDB store today.
        </span>
      ) : (
        state.error && (
          <span className="widget-text error-text" role="alert">
            {state.error.message}
          </span>
        )
      )}
    </button>
  );
}

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low'] as const;

interface InsightsWidgetProps {
  state: ApiState<Insights>;
  onOpen: () => void;
}

/** The status of /api/insights on a store kind that has no insights engine (ClickHouse). */
const NOT_IMPLEMENTED = 501;

/** The dashboard card of open signals in the newest 7 days of data; opens the Insights view. */
export function InsightsWidget({ state, onOpen }: InsightsWidgetProps) {
  const insights = state.data;
  const counts = SEVERITY_ORDER.map((severity) => ({
    severity,
    count: insights?.signals.filter((signal) => signal.severity === severity).length ?? 0,
  })).filter((entry) => entry.count > 0);

  return (
    <button
      type="button"
      className={`widget widget-insights${insights && insights.open > 0 ? ' has-signals' : ''}`}
      data-testid="widget-insights"
      onClick={onOpen}
      disabled={!insights}
    >
      <span className="widget-title">Unusual activity</span>
      {insights && (
        <>
          <span className="widget-count" data-testid="widget-insights-count">
            {formatCount(insights.open)}
          </span>
          <span className="widget-text">
            open {insights.open === 1 ? 'signal' : 'signals'}
            {counts.length > 0 && ': '}
            {counts.map((entry) => `${entry.count} ${entry.severity}`).join(', ')}
          </span>
          <span className="widget-period">
            Last 7 days: {formatPeriod(insights.from, insights.to)}
          </span>
          <span className="widget-more">Show insights</span>
        </>
      )}
      {state.loading && !insights && <span className="widget-text">Computing…</span>}
      {state.error?.status === NOT_IMPLEMENTED ? (
        <span className="widget-text" data-testid="widget-insights-unavailable">
          Not available on this store: insights need a DuckDB store today.
        </span>
      ) : (
        state.error && (
          <span className="widget-text error-text" role="alert">
            {state.error.message}
          </span>
        )
      )}
    </button>
  );
}
