import type { ApiError, Summary } from './api';
import { formatCount, formatPeriod } from './format';

export function ErrorNotice({ error }: { error: ApiError }) {
  return (
    <p className="notice notice-error" role="alert">
      {error.message}
    </p>
  );
}

/**
 * Postfix logs the TLS version of a session only with `smtpd_tls_loglevel = 1` or higher, and
 * Sendmail its STARTTLS=server line only from LogLevel 9, so a server that logs no TLS line at
 * all leaves the version of its messages unknown.
 */
export function TlsLoggingNotice({ gaps }: { gaps: Summary['tlsLoggingOff'] }) {
  if (gaps.length === 0) return null;

  return (
    <div className="notice notice-warning" role="status" data-testid="tls-logging-off">
      <p>
        The TLS version is unknown for messages from these servers because their logs have no TLS
        lines:
      </p>
      <ul>
        {gaps.map((gap) => (
          <li key={gap.server}>
            <strong>{gap.server}</strong>: {formatCount(gap.messages)}{' '}
            {gap.messages === 1 ? 'message' : 'messages'}
          </li>
        ))}
      </ul>
      <p>
        On Postfix, set <code>smtpd_tls_loglevel = 1</code> in main.cf and run{' '}
        <code>postfix reload</code>. On Sendmail, set <code>LogLevel</code> to 9 or more (9 is its
        default). Messages from then on show their TLS version.
      </p>
    </div>
  );
}

interface EmptyStateProps {
  from: string;
  to: string;
  filtered: boolean;
  showingAll: boolean;
  onShowAll: () => void;
  onClearFilters: () => void;
}

/** Shown when the chosen period and filters match no message and no failed login. */
export function EmptyState({
  from,
  to,
  filtered,
  showingAll,
  onShowAll,
  onClearFilters,
}: EmptyStateProps) {
  return (
    <div className="empty-state" data-testid="empty-state">
      <h3>No data for {showingAll ? 'any date' : formatPeriod(from, to)}</h3>
      <p>
        {filtered
          ? 'No SMTP AUTH message or failed login matches the sender domain and search in this period.'
          : 'The store has no SMTP AUTH message and no failed login in this period.'}
        {showingAll &&
          !filtered &&
          ' Read a Postfix log into the store with smtp-auth-report ingest.'}
      </p>
      <div className="button-row">
        {!showingAll && (
          <button type="button" className="primary" data-testid="show-all" onClick={onShowAll}>
            Show all dates
          </button>
        )}
        {filtered && (
          <button type="button" data-testid="clear-filters" onClick={onClearFilters}>
            Clear domain and search
          </button>
        )}
      </div>
    </div>
  );
}
