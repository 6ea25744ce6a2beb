import { useMemo, useState } from 'react';

import {
  getCoreRowModel,
  useReactTable,
  type ColumnDef,
  type PaginationState,
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

const DEFAULT_SORTING: SortingState = [{ id: 'messages', desc: true }];

/**
 * TLS Usage: the share of messages per TLS version per day, and per account. The server sorts
 * and pages the accounts, so one response contains the chart and the shown page of the table.
 */
export function TlsPivot({ query, accountHref, onOpenAccount }: TlsPivotProps) {
  const [view, setView] = useState<PivotView>('both');
  const [sorting, setSorting] = useState<SortingState>(DEFAULT_SORTING);
  const [pagination, setPagination] = useState<PaginationState>({ pageIndex: 0, pageSize: 25 });
  const queryKey = queryString({ ...query });
  const [pagedQueryKey, setPagedQueryKey] = useState(queryKey);

  // New filters start again at the first page.
  if (pagedQueryKey !== queryKey) {
    setPagedQueryKey(queryKey);
    setPagination((page) => ({ ...page, pageIndex: 0 }));
  }

  const sort = sorting[0] ?? DEFAULT_SORTING[0];
  const tls = useApi<TlsUsage>(
    `/api/tls${queryString({
      ...query,
      sort: sort.id,
      order: sort.desc ? 'desc' : 'asc',
      limit: pagination.pageSize,
      offset: pagination.pageIndex * pagination.pageSize,
    })}`,
  );

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
          total={tls.data?.total ?? 0}
          loading={tls.loading}
          sorting={sorting}
          onSortingChange={(next) => {
            setSorting(next);
            setPagination((page) => ({ ...page, pageIndex: 0 }));
          }}
          pagination={pagination}
          onPaginationChange={setPagination}
          accountHref={accountHref}
          onOpenAccount={onOpenAccount}
        />
      )}
    </div>
  );
}

interface TlsTableProps {
  /** The accounts of the shown page, in the server's order. */
  rows: TlsAccountRow[];
  /** Accounts in all pages. */
  total: number;
  loading: boolean;
  sorting: SortingState;
  onSortingChange: (sorting: SortingState) => void;
  pagination: PaginationState;
  onPaginationChange: (pagination: PaginationState) => void;
  accountHref: (account: string) => string;
  onOpenAccount: (account: string) => void;
}

function protocolColumn(protocol: TlsProtocol): ColumnDef<TlsAccountRow> {
  const isLegacy = LEGACY_TLS.includes(protocol);

  return {
    id: protocol,
    header: TLS_LABELS[protocol],
    // The server sorts by share, which ranks accounts of different sizes fairly, then count.
    accessorFn: (row) => row.percents[protocol],
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

function TlsTable({
  rows,
  total,
  loading,
  sorting,
  onSortingChange,
  pagination,
  onPaginationChange,
  accountHref,
  onOpenAccount,
}: TlsTableProps) {
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
    state: { sorting, pagination },
    onSortingChange: (updater) =>
      onSortingChange(typeof updater === 'function' ? updater(sorting) : updater),
    onPaginationChange: (updater) =>
      onPaginationChange(typeof updater === 'function' ? updater(pagination) : updater),
    manualSorting: true,
    manualPagination: true,
    enableSortingRemoval: false,
    rowCount: total,
    getCoreRowModel: getCoreRowModel(),
  });

  return (
    <DataTable
      table={table}
      testId="details-table"
      caption="Messages per account and TLS version"
      rowCount={total}
      emptyText={loading ? 'Loading…' : 'No messages match these filters.'}
      onRowOpen={(row) => onOpenAccount(row.account)}
    />
  );
}
