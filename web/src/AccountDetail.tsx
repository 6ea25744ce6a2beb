import { useEffect, useMemo, useRef, type ReactNode } from 'react';

import { accountPath, queryString, type AccountDetail as Detail } from './api';
import { Chart } from './Chart';
import { accountDailyChartOption, chartDays } from './charts';
import { UNNAMED_USERNAME } from './FailuresPivot';
import { formatCount, formatDay, formatInstant, formatPeriod } from './format';
import { SIGNAL_LABELS } from './Insights';
import { ErrorNotice } from './Notices';
import type { EvidenceHighlight } from './router';
import { TlsMix } from './TlsMix';
import { useApi } from './useApi';

interface AccountDetailProps {
  account: string;
  from: string;
  to: string;
  onBack: () => void;
  onShowAllDates: () => void;
  /** The evidence of the signal the account was opened from. */
  highlight: EvidenceHighlight | null;
}

/** Everything about one account in the period: volume, TLS, client IPs, senders and failures. */
export function AccountDetail(props: AccountDetailProps) {
  const { account, from, to, onBack, onShowAllDates, highlight } = props;
  const detail = useApi<Detail>(`${accountPath(account)}${queryString({ from, to })}`);
  const headingRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    headingRef.current?.focus();
  }, [account]);

  return (
    <section
      className="account-detail"
      data-testid="account-detail"
      aria-labelledby="account-title"
    >
      <button type="button" className="back-button" data-testid="back" onClick={onBack}>
        ← Back to the report
      </button>
      <h2 id="account-title" ref={headingRef} tabIndex={-1} className="account-title">
        {account}
      </h2>
      <p className="period" data-testid="account-period">
        {formatPeriod(detail.data?.from ?? from, detail.data?.to ?? to)}
      </p>

      {detail.loading && !detail.data && <p aria-busy="true">Loading…</p>}
      {detail.error?.status === 404 && (
        <div className="empty-state" data-testid="account-not-found">
          <p>
            {account} sent no message with SMTP AUTH between {formatDay(from)} and {formatDay(to)}.
          </p>
          <button type="button" className="primary" onClick={onShowAllDates}>
            Show all dates
          </button>
        </div>
      )}
      {detail.error && detail.error.status !== 404 && <ErrorNotice error={detail.error} />}
      {highlight && <HighlightNote highlight={highlight} />}
      {detail.data && <DetailBody detail={detail.data} highlight={highlight} />}
    </section>
  );
}

/** Says which signal's evidence the chart highlights, and on which days. */
function HighlightNote({ highlight }: { highlight: EvidenceHighlight }) {
  const { days } = highlight;
  const when =
    days.length === 1
      ? formatDay(days[0])
      : `${days.length} days, ${formatPeriod(days[0], days[days.length - 1])}`;
  return (
    <p className="notice evidence-note" data-testid="evidence-highlight">
      Highlighted on the chart: {SIGNAL_LABELS[highlight.signal] ?? highlight.signal}, {when}.
    </p>
  );
}

function DetailBody({
  detail,
  highlight,
}: {
  detail: Detail;
  highlight: EvidenceHighlight | null;
}) {
  const option = useMemo(() => {
    const days = chartDays(
      detail.from,
      detail.to,
      detail.daily.map((row) => row.day),
    );
    return accountDailyChartOption(days, detail.daily, highlight?.days);
  }, [detail, highlight]);

  return (
    <>
      <dl className="stat-list stat-cards">
        <div>
          <dt>Messages</dt>
          <dd data-testid="account-messages">{formatCount(detail.messages)}</dd>
        </div>
        <div>
          <dt>Recipients</dt>
          <dd data-testid="account-recipients">{formatCount(detail.recipients)}</dd>
        </div>
        <div>
          <dt>First seen</dt>
          <dd data-testid="account-first-seen">{formatInstant(detail.firstSeen)}</dd>
        </div>
        <div>
          <dt>Last seen</dt>
          <dd data-testid="account-last-seen">{formatInstant(detail.lastSeen)}</dd>
        </div>
      </dl>

      <div className="detail-grid">
        <Panel title="Messages per day" wide>
          <Chart
            option={option}
            testId="account-chart"
            label={`Bar chart of messages per day sent by ${detail.account}.`}
          />
        </Panel>

        <Panel title="TLS versions">
          <TlsMix counts={detail.tls} testId="account-tls" />
        </Panel>

        <div className="panel-stack">
          <Panel title="Sender addresses">
            <SimpleTable
              testId="account-senders"
              headers={['Sender address', 'Messages']}
              numeric={[1]}
              rows={detail.senderAddresses.map((sender) => [
                sender.senderAddress === '' ? '<> (null sender)' : sender.senderAddress,
                formatCount(sender.messages),
              ])}
              emptyText="No sender addresses."
            />
          </Panel>

          <Panel title="SASL mechanisms">
            <SimpleTable
              testId="account-mechanisms"
              headers={['Mechanism', 'Messages']}
              numeric={[1]}
              rows={detail.mechanisms.map((m) => [m.saslMechanism, formatCount(m.messages)])}
              emptyText="No mechanisms."
            />
          </Panel>
        </div>

        <Panel title="Client IPs" wide>
          <SimpleTable
            testId="account-client-ips"
            headers={['Client IP', 'Messages', 'First seen', 'Last seen']}
            numeric={[1]}
            rows={detail.clientIps.map((ip) => [
              ip.clientIp,
              formatCount(ip.messages),
              formatInstant(ip.firstSeen),
              formatInstant(ip.lastSeen),
            ])}
            emptyText="No client IPs."
          />
        </Panel>

        {detail.heloNames.length > 0 && (
          <Panel title="HELO names">
            <ul className="plain-list">
              {detail.heloNames.map((name) => (
                <li key={name}>{name}</li>
              ))}
            </ul>
          </Panel>
        )}

        <Panel title="Failed logins with this username" wide>
          <SimpleTable
            testId="account-failures"
            headers={['Day', 'Attempted username', 'Client IP', 'Failed logins']}
            numeric={[3]}
            rows={detail.failures.map((f) => [
              formatDay(f.day),
              f.attemptedUsername ?? UNNAMED_USERNAME,
              f.clientIp,
              formatCount(f.failures),
            ])}
            emptyText="No failed logins in this period."
          />
        </Panel>
      </div>
    </>
  );
}

function Panel({ title, wide, children }: { title: string; wide?: boolean; children: ReactNode }) {
  return (
    <section className={wide ? 'panel panel-wide' : 'panel'}>
      <h3>{title}</h3>
      {children}
    </section>
  );
}

interface SimpleTableProps {
  testId: string;
  headers: string[];
  /** Indexes of right-aligned columns. */
  numeric: number[];
  rows: string[][];
  emptyText: string;
}

function SimpleTable({ testId, headers, numeric, rows, emptyText }: SimpleTableProps) {
  const classOf = (index: number) => (numeric.includes(index) ? 'numeric' : undefined);

  return (
    <div className="table-scroll">
      <table className="data-table compact" data-testid={testId}>
        <thead>
          <tr>
            {headers.map((header, index) => (
              <th key={header} scope="col" className={classOf(index)}>
                {header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={headers.length} className="empty-cell">
                {emptyText}
              </td>
            </tr>
          )}
          {rows.map((row, rowIndex) => (
            <tr key={rowIndex}>
              {row.map((cell, index) => (
                <td key={index} className={classOf(index)}>
                  {cell}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
