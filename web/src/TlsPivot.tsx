import { useMemo, useState } from 'react';

import {
  getCoreRowModel,
  getPaginationRowModel,
  getSortedRowModel,
  useReactTable,
  type ColumnDef,
  type SortingState,
} from '@tanstack/react-table';

import {
  LEGACY_TLS,
  queryString,
  TLS_LABELS,
  TLS_PROTOCOLS,
  type ReportQuery,
  type TlsAccountRow,
  type TlsProtocol,
  type TlsUsage,
} from './api';
import { AccountLink } from './AccountLink';
import { Chart } from './Chart';
import { chartDays, tlsShareChartOption } from './charts';
import { DataTable } from './DataTable';
import { formatCount, formatPercent, formatPeriod } from './format';
import { ErrorNotice } from './Notices';
import { useApi } from './useApi';
import { ViewToggle, type PivotView } from './ViewToggle';

interface TlsPivotProps {
  query: ReportQuery;
  accountHref: (account: string) => string;
  onOpenAccount: (account: string) => void;
}

/** TLS Usage: the share of messages per TLS version per day, and per account. */
export function TlsPivot({ query, accountHref, onOpenAccount }: TlsPivotProps) {
  const [view, setView] = useState<PivotView>('both');
  const tls = useApi<TlsUsage>(`/api/tls${queryString({ ...query })}`);

  const option = useMemo(() => {
    if (!tls.data) return null;
    const { from, to, byDay } = tls.data;
    return tlsShareChartOption(
      chartDays(
        from,
        to,
        byDay.map((row) => row.day),
      ),
      byDay,
    );
  }, [tls.data]);

  return (
    <div className="pivot-body">
      <div className="pivot-toolbar">
        <h3>Share of messages per TLS version</h3>
        <ViewToggle view={view} onChange={setView} />
      </div>
      {tls.error && <ErrorNotice error={tls.error} />}
      {view !== 'table' && option && tls.data && (
        <Chart
          option={option}
          testId="tls-chart"
          label={`Stacked bar chart of the share of messages per TLS version per day from ${formatPeriod(tls.data.from, tls.data.to)}.`}
        />
      )}
      {view !== 'chart' && (
        <TlsTable
          rows={tls.data?.byAccount ?? []}
          loading={tls.loading}
          accountHref={accountHref}
          onOpenAccount={onOpenAccount}
        />
      )}
    </div>
  );
}

interface TlsTableProps {
  rows: TlsAccountRow[];
  loading: boolean;
  accountHref: (account: string) => string;
  onOpenAccount: (account: string) => void;
}

function protocolColumn(protocol: TlsProtocol): ColumnDef<TlsAccountRow> {
  const isLegacy = LEGACY_TLS.includes(protocol);

  return {
    id: protocol,
    header: TLS_LABELS[protocol],
    // Sorting by share ranks accounts of different sizes fairly; the count breaks ties.
    accessorFn: (row) => row.percents[protocol] * 1e9 + row.counts[protocol],
    sortDescFirst: true,
    meta: {
      numeric: true,
      cellClass: (row) => {
        if (row.counts[protocol] === 0) return 'zero';
        return isLegacy ? 'legacy' : undefined;
      },
    },
    cell: ({ row }) => (
      <>
        <span className="cell-percent">{formatPercent(row.original.percents[protocol])}</span>{' '}
        <span className="cell-count">({formatCount(row.original.counts[protocol])})</span>
      </>
    ),
  };
}

function TlsTable({ rows, loading, accountHref, onOpenAccount }: TlsTableProps) {
  const [sorting, setSorting] = useState<SortingState>([{ id: 'messages', desc: true }]);

  const columns = useMemo<ColumnDef<TlsAccountRow>[]>(
    () => [
      {
        id: 'account',
        accessorKey: 'account',
        header: 'Account',
        sortingFn: 'alphanumeric',
        cell: ({ row }) => (
          <AccountLink
            account={row.original.account}
            href={accountHref(row.original.account)}
            onOpen={() => onOpenAccount(row.original.account)}
          />
        ),
      },
      ...TLS_PROTOCOLS.map(protocolColumn),
      {
        id: 'messages',
        accessorKey: 'messages',
        header: 'Total',
        sortDescFirst: true,
        meta: { numeric: true },
        cell: ({ row }) => formatCount(row.original.messages),
      },
      {
        id: 'legacyPercent',
        accessorKey: 'legacyPercent',
        header: 'Legacy share',
        sortDescFirst: true,
        meta: {
          numeric: true,
          cellClass: (row) => (row.legacyPercent > 0 ? 'legacy-share' : 'zero'),
        },
        cell: ({ row }) => formatPercent(row.original.legacyPercent),
      },
    ],
    [accountHref, onOpenAccount],
  );

  const table = useReactTable({
    data: rows,
    columns,
    state: { sorting },
    onSortingChange: setSorting,
    enableSortingRemoval: false,
    autoResetPageIndex: true,
    initialState: { pagination: { pageIndex: 0, pageSize: 25 } },
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getPaginationRowModel: getPaginationRowModel(),
  });

  return (
    <DataTable
      table={table}
      testId="details-table"
      caption="Messages per account and TLS version"
      rowCount={rows.length}
      emptyText={loading ? 'Loading…' : 'No messages match these filters.'}
      onRowOpen={(row) => onOpenAccount(row.account)}
    />
  );
}
