import { useRef, type KeyboardEvent, type RefObject } from 'react';

import { exportUrl, queryString, type DomainList, type ReportQuery, type Summary } from './api';
import { FailuresPivot } from './FailuresPivot';
import { Insights } from './Insights';
import { Filters, type FilterChoice } from './Filters';
import { formatCount, formatDay, formatPeriod } from './format';
import { EmptyState, ErrorNotice, TlsLoggingNotice } from './Notices';
import { TlsPivot } from './TlsPivot';
import { useApi } from './useApi';
import { VolumePivot } from './VolumePivot';

export type Pivot = 'volume' | 'tls' | 'failures' | 'insights';

const PIVOTS: { pivot: Pivot; label: string }[] = [
  { pivot: 'volume', label: 'Sending Volume' },
  { pivot: 'tls', label: 'TLS Usage' },
  { pivot: 'failures', label: 'Failed logins' },
  { pivot: 'insights', label: 'Insights' },
];

const ARROW_STEPS: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1 };

interface ReportProps {
  choice: FilterChoice;
  query: ReportQuery & { from: string; to: string };
  dateError: string | null;
  pivot: Pivot;
  headingRef: RefObject<HTMLHeadingElement | null>;
  onChoiceChange: (change: Partial<FilterChoice>) => void;
  onPivotChange: (pivot: Pivot) => void;
  accountHref: (account: string) => string;
  onOpenAccount: (account: string) => void;
  /** Raised after a review, so that every view of the signals fetches them again. */
  insightsVersion: number;
  onInsightsReviewed: () => void;
  onOpenUrl: (url: string) => void;
}

/** The full report: filters, period, notices, the download and the three pivots. */
export function Report(props: ReportProps) {
  const { choice, query, dateError, headingRef, onChoiceChange } = props;
  const summary = useApi<Summary>(`/api/summary${queryString({ ...query })}`);
  const domains = useApi<DomainList>(
    `/api/domains${queryString({ from: query.from, to: query.to })}`,
  );

  const data = summary.data;
  const isEmpty = data !== null && data.messages === 0 && data.failures === 0;
  const filtered = query.domain !== undefined || query.search !== undefined;

  return (
    <section id="report" className="report" aria-labelledby="report-title">
      <div className="report-header">
        <h2 id="report-title" ref={headingRef} tabIndex={-1}>
          SMTP AUTH clients report
        </h2>
        <a className="button primary" href={exportUrl(query)} download data-testid="request-report">
          Request report
        </a>
      </div>
      <p className="report-help">
        Accounts that sent mail after SMTP AUTH, how much they sent, and over which TLS version.
        Request report downloads every row of the current view as CSV.
      </p>

      <Filters
        choice={choice}
        from={query.from}
        to={query.to}
        domains={domains.data}
        dateError={dateError}
        onChange={onChoiceChange}
      />

      <p className="period" data-testid="period">
        {choice.preset === 'all'
          ? `All data up to ${formatDay(query.to)}`
          : formatPeriod(query.from, query.to)}
      </p>

      {summary.error && <ErrorNotice error={summary.error} />}
      {data && <TlsLoggingNotice gaps={data.tlsLoggingOff} />}
      {data && !isEmpty && <Totals summary={data} />}

      {isEmpty ? (
        <EmptyState
          from={query.from}
          to={query.to}
          filtered={filtered}
          showingAll={choice.preset === 'all'}
          onShowAll={() => onChoiceChange({ preset: 'all' })}
          onClearFilters={() => onChoiceChange({ domain: '', searchText: '' })}
        />
      ) : (
        <Pivots {...props} />
      )}
    </section>
  );
}

function Totals({ summary }: { summary: Summary }) {
  return (
    <p className="totals" data-testid="report-totals">
      <strong>{formatCount(summary.messages)}</strong>{' '}
      {summary.messages === 1 ? 'message' : 'messages'} from{' '}
      <strong>{formatCount(summary.accounts)}</strong>{' '}
      {summary.accounts === 1 ? 'account' : 'accounts'} to{' '}
      <strong>{formatCount(summary.recipients)}</strong>{' '}
      {summary.recipients === 1 ? 'recipient' : 'recipients'},{' '}
      <strong>{formatCount(summary.failures)}</strong> failed{' '}
      {summary.failures === 1 ? 'login' : 'logins'}
    </p>
  );
}

function Pivots(props: ReportProps) {
  const { query, pivot, onPivotChange, accountHref, onOpenAccount } = props;
  const tabRefs = useRef<Partial<Record<Pivot, HTMLButtonElement | null>>>({});

  // Arrow keys move between tabs, as in the WAI-ARIA tabs pattern.
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const step = ARROW_STEPS[event.key];
    if (step === undefined) return;
    const index = PIVOTS.findIndex((p) => p.pivot === pivot);
    const next = PIVOTS[(index + step + PIVOTS.length) % PIVOTS.length].pivot;
    onPivotChange(next);
    tabRefs.current[next]?.focus();
  };

  return (
    <div className="pivots">
      <div className="tabs" role="tablist" aria-label="Report views" onKeyDown={onKeyDown}>
        {PIVOTS.map((p) => (
          <button
            key={p.pivot}
            ref={(element) => {
              tabRefs.current[p.pivot] = element;
            }}
            type="button"
            role="tab"
            id={`tab-${p.pivot}`}
            aria-selected={pivot === p.pivot}
            aria-controls={`panel-${p.pivot}`}
            tabIndex={pivot === p.pivot ? 0 : -1}
            data-testid={`pivot-${p.pivot}`}
            onClick={() => onPivotChange(p.pivot)}
          >
            {p.label}
          </button>
        ))}
      </div>
      <div
        className="tab-panel"
        role="tabpanel"
        id={`panel-${pivot}`}
        aria-labelledby={`tab-${pivot}`}
        data-pivot={pivot}
      >
        {pivot === 'volume' && (
          <VolumePivot query={query} accountHref={accountHref} onOpenAccount={onOpenAccount} />
        )}
        {pivot === 'tls' && (
          <TlsPivot query={query} accountHref={accountHref} onOpenAccount={onOpenAccount} />
        )}
        {pivot === 'failures' && <FailuresPivot query={query} />}
        {pivot === 'insights' && (
          <Insights
            period={{ from: query.from, to: query.to }}
            version={props.insightsVersion}
            onReviewed={props.onInsightsReviewed}
            onOpenUrl={props.onOpenUrl}
          />
        )}
      </div>
    </div>
  );
}
