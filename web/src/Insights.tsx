import { useState, type FormEvent, type MouseEvent } from 'react';

import {
  postJson,
  queryString,
  type ApiError,
  type Insights as InsightList,
  type InsightSignal,
  type ReviewRequest,
  type Severity,
} from './api';
import { formatInstant } from './format';
import { ErrorNotice } from './Notices';
import { evidenceUrl } from './router';
import { useApi } from './useApi';

/** Names of the signals as the page shows them; the API uses the names of `insights`. */
export const SIGNAL_LABELS: Record<string, string> = {
  'volume-spike': 'Volume spike',
  'new-client-ip': 'New client IP',
  'many-client-ips': 'Many client IPs at once',
  'foreign-sender': 'Foreign sender address',
  'auth-without-tls': 'Login without TLS',
  'legacy-tls': 'TLS 1.0 or 1.1',
  'login-after-failures': 'Login after failed logins',
  'password-spraying': 'Password spraying',
  'username-many-ips': 'One username from many IPs',
  'unusual-hour': 'Unusual hour',
};

const SEVERITY_LABELS: Record<Severity, string> = {
  critical: 'Critical',
  high: 'High',
  medium: 'Medium',
  low: 'Low',
};

interface InsightsProps {
  period: { from: string; to: string };
  version: number;
  onReviewed: () => void;
  onOpenUrl: (url: string) => void;
}

/** The status of /api/insights on a store kind that has no insights engine (ClickHouse). */
const NOT_IMPLEMENTED = 501;

/** Open signals of unusual activity, most severe first, each with its evidence and a review action. */
export function Insights({ period, version, onReviewed, onOpenUrl }: InsightsProps) {
  const [showReviewed, setShowReviewed] = useState(false);
  const [status, setStatus] = useState('');
  const params = { ...period, reviewed: showReviewed ? 'include' : undefined };
  const insights = useApi<InsightList>(`/api/insights${queryString(params)}`, version);
  const data = insights.data;

  const reviewed = (message: string) => {
    setStatus(message);
    onReviewed();
  };

  return (
    <div className="pivot-body">
      <div className="pivot-toolbar">
        <h3>Insights</h3>
        {data && (
          <p className="pivot-note" data-testid="insights-count">
            {data.open} open {data.open === 1 ? 'signal' : 'signals'}
            {data.reviewed > 0 && `, ${data.reviewed} reviewed`}
          </p>
        )}
        <label className="checkbox-label">
          <input
            type="checkbox"
            checked={showReviewed}
            data-testid="insights-show-reviewed"
            onChange={(event) => setShowReviewed(event.target.checked)}
          />
          Show reviewed
        </label>
      </div>
      <p className="pivot-help">
        Activity that looks wrong for an account compared with its own history (the 28 days before
        the period): bursts of mail, new client IPs, foreign sender addresses, logins without TLS, a
        login after failed logins. The sender domain and search filters do not apply here.
      </p>
      <p className="visually-hidden" role="status" data-testid="insights-status">
        {status}
      </p>
      {insights.error?.status === NOT_IMPLEMENTED ? (
        <p className="empty-state" data-testid="insights-unavailable">
          Insights are not available on this store: they need a DuckDB store today.
        </p>
      ) : (
        insights.error && <ErrorNotice error={insights.error} />
      )}
      {data && data.signals.length === 0 && (
        <p className="empty-state" data-testid="insights-empty">
          No open signals from {data.from} to {data.to}.
        </p>
      )}
      {data && data.signals.length > 0 && (
        <ol className="signal-list" data-testid="insights-list">
          {data.signals.map((signal) => (
            <SignalCard
              key={signal.id}
              signal={signal}
              period={data}
              onOpenUrl={onOpenUrl}
              onReviewed={reviewed}
            />
          ))}
        </ol>
      )}
      {insights.loading && !data && <p aria-busy="true">Computing the signals…</p>}
    </div>
  );
}

interface SignalCardProps {
  signal: InsightSignal;
  period: { from: string; to: string };
  onOpenUrl: (url: string) => void;
  onReviewed: (message: string) => void;
}

function SignalCard({ signal, period, onOpenUrl, onReviewed }: SignalCardProps) {
  const [reviewing, setReviewing] = useState(false);
  const account = accountOf(signal);
  const url = account === null ? null : evidenceUrl(account, period, signal);

  const openAccount = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    if (url) onOpenUrl(url);
  };

  return (
    <li
      className={`signal-card severity-${signal.severity}${signal.reviewed ? ' is-reviewed' : ''}`}
      data-testid="signal"
      data-signal={signal.signal}
      data-severity={signal.severity}
    >
      <div className="signal-head">
        <span className={`severity-badge severity-${signal.severity}`}>
          {SEVERITY_LABELS[signal.severity]}
        </span>
        <span className="signal-name">{SIGNAL_LABELS[signal.signal] ?? signal.signal}</span>
        <span className="signal-subject" data-testid="signal-subject">
          {signal.account ?? signal.clientIp}
        </span>
      </div>
      <dl className="signal-facts">
        <div>
          <dt>Client IP</dt>
          <dd data-testid="signal-client-ip">{signal.clientIp ?? 'several or none'}</dd>
        </div>
        <div>
          <dt>First seen</dt>
          <dd data-testid="signal-first-seen">{formatInstant(signal.firstSeen)}</dd>
        </div>
        <div>
          <dt>Last seen</dt>
          <dd data-testid="signal-last-seen">{formatInstant(signal.lastSeen)}</dd>
        </div>
      </dl>
      <p className="signal-explanation" data-testid="signal-explanation">
        {signal.explanation}
      </p>
      <details className="signal-evidence">
        <summary>Evidence</summary>
        <EvidenceList evidence={signal.evidence} />
      </details>
      {signal.reviewed && (
        <p className="signal-reviewed" data-testid="signal-reviewed">
          Reviewed {formatInstant(signal.reviewed.reviewedAt)}: {signal.reviewed.note}
        </p>
      )}
      <div className="signal-actions">
        {url && (
          <a className="button" href={url} onClick={openAccount} data-testid="signal-open">
            Show on the account’s chart
          </a>
        )}
        {!signal.reviewed && !reviewing && (
          <button type="button" data-testid="signal-review" onClick={() => setReviewing(true)}>
            Mark reviewed
          </button>
        )}
      </div>
      {reviewing && (
        <ReviewForm
          signal={signal}
          onCancel={() => setReviewing(false)}
          onDone={(message) => {
            setReviewing(false);
            onReviewed(message);
          }}
        />
      )}
    </li>
  );
}

/**
 * The account whose chart shows the evidence. An attempted username that is no account of
 * this server has no chart, and neither has a client address alone.
 */
function accountOf(signal: InsightSignal): string | null {
  if (signal.account === null) return null;
  if (signal.signal === 'username-many-ips' && signal.evidence.knownAccount !== true) return null;
  return signal.account;
}

interface ReviewFormProps {
  signal: InsightSignal;
  onCancel: () => void;
  onDone: (message: string) => void;
}

/** Marks the account (or the client address of a signal without one) reviewed, with a note. */
function ReviewForm({ signal, onCancel, onDone }: ReviewFormProps) {
  const [note, setNote] = useState('');
  const [onlyThis, setOnlyThis] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const subject = signal.account ?? signal.clientIp ?? '';

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const request: ReviewRequest =
      signal.account !== null
        ? { account: signal.account, note }
        : { clientIp: signal.clientIp ?? '', note };
    if (onlyThis) request.signal = signal.signal;

    setBusy(true);
    try {
      await postJson('/api/reviews', request);
      onDone(`${subject} marked reviewed.`);
    } catch (caught) {
      setError(caught as ApiError);
      setBusy(false);
    }
  };

  return (
    <form className="review-form" data-testid="review-form" onSubmit={submit}>
      <label htmlFor={`note-${signal.id}`}>What did you check or do?</label>
      <textarea
        id={`note-${signal.id}`}
        data-testid="review-note"
        required
        maxLength={2000}
        rows={2}
        value={note}
        onChange={(event) => setNote(event.target.value)}
      />
      <label className="checkbox-label">
        <input
          type="checkbox"
          checked={onlyThis}
          onChange={(event) => setOnlyThis(event.target.checked)}
        />
        Only this signal (otherwise every signal about {subject} up to now)
      </label>
      {error && <ErrorNotice error={error} />}
      <div className="signal-actions">
        <button type="submit" className="primary" disabled={busy} data-testid="review-submit">
          Mark reviewed
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The evidence numbers as terms and values; nested lists and objects as compact JSON text. */
function EvidenceList({ evidence }: { evidence: Record<string, unknown> }) {
  return (
    <dl className="evidence-list">
      {Object.entries(evidence).map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>
            {typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}
          </dd>
        </div>
      ))}
    </dl>
  );
}
