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
  queryString,
  TLS_LABELS,
  type FailurePivot,
  type FailurePivotKey,
  type FailurePivotRow,
  type FailureRow,
  type Failures,
  type ReportQuery,
} from './api';
import { DataTable } from './DataTable';
import { formatCount, formatDay } from './format';
import { ErrorNotice } from './Notices';
import { useApi } from './useApi';

/** Text for a failed login whose log line does not name the username. */
export const UNNAMED_USERNAME = '(not logged)';

const columns: ColumnDef<FailureRow>[] = [
  {
    id: 'day',
    accessorKey: 'day',
    header: 'Day',
    cell: ({ row }) => formatDay(row.original.day),
  },
  {
    id: 'attemptedUsername',
    accessorFn: (row) => row.attemptedUsername ?? '',
    header: 'Attempted username',
    cell: ({ row }) =>
      row.original.attemptedUsername === null ? (
        <span className="muted">{UNNAMED_USERNAME}</span>
      ) : (
        row.original.attemptedUsername
      ),
  },
  { id: 'clientIp', accessorKey: 'clientIp', header: 'Client IP' },
  { id: 'saslMechanism', accessorKey: 'saslMechanism', header: 'Mechanism' },
  {
    id: 'tlsProtocol',
    accessorKey: 'tlsProtocol',
    header: 'TLS',
    cell: ({ row }) => TLS_LABELS[row.original.tlsProtocol] ?? row.original.tlsProtocol,
  },
  { id: 'server', accessorKey: 'server', header: 'Server' },
  {
    id: 'failures',
    accessorKey: 'failures',
    header: 'Failed logins',
    sortDescFirst: true,
    meta: { numeric: true },
    cell: ({ row }) => formatCount(row.original.failures),
  },
];

type Grouping = 'all' | FailurePivotKey;

const GROUPINGS: { grouping: Grouping; label: string }[] = [
  { grouping: 'all', label: 'Every combination' },
  { grouping: 'ip', label: 'By client IP' },
  { grouping: 'username', label: 'By username' },
  { grouping: 'day', label: 'By day' },
];

/** Failed SMTP AUTH logins: who tried which username from where, or one of those at a time. */
export function FailuresPivot({ query }: { query: ReportQuery }) {
  const [grouping, setGrouping] = useState<Grouping>('all');

  return (
    <div className="pivot-body">
      <div className="pivot-toolbar">
        <h3>Failed logins</h3>
        <div className="segmented" role="group" aria-label="Group failed logins">
          {GROUPINGS.map((option) => (
            <button
              key={option.grouping}
              type="button"
              aria-pressed={grouping === option.grouping}
              data-testid={`failures-by-${option.grouping}`}
              onClick={() => setGrouping(option.grouping)}
            >
              {option.label}
            </button>
          ))}
        </div>
      </div>
      <p className="pivot-help">
        Logins the server rejected. The sender domain filter matches the domain of the attempted
        username, and the search matches the username. By client IP ranks the sources of the most
        failures first, and among equals those that tried the most usernames.
      </p>
      {grouping === 'all' ? (
        <FailureGroups query={query} />
      ) : (
        <FailurePivotTable query={query} by={grouping} />
      )}
    </div>
  );
}

/** Every combination of day, username, client IP, mechanism, TLS version and server. */
function FailureGroups({ query }: { query: ReportQuery }) {
  const failures = useApi<Failures>(`/api/failures${queryString({ ...query })}`);
  const [sorting, setSorting] = useState<SortingState>([{ id: 'failures', desc: true }]);
  const rows = failures.data?.rows ?? [];
  const total = useMemo(() => rows.reduce((sum, row) => sum + row.failures, 0), [rows]);

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
    <>
      {failures.data && (
        <p className="pivot-note" data-testid="failures-total">
          {formatCount(total)} failed {total === 1 ? 'login' : 'logins'}
        </p>
      )}
      {failures.error && <ErrorNotice error={failures.error} />}
      <DataTable
        table={table}
        testId="failures-table"
        caption="Failed SMTP AUTH logins"
        rowCount={rows.length}
        emptyText={failures.loading ? 'Loading…' : 'No failed logins match these filters.'}
      />
    </>
  );
}

const count = (id: keyof FailurePivotRow, header: string): ColumnDef<FailurePivotRow> => ({
  id,
  accessorKey: id,
  header,
  sortDescFirst: true,
  meta: { numeric: true },
  cell: ({ row }) => formatCount(Number(row.original[id])),
});

const keyColumn = (header: string, format: (key: string) => string = (key) => key) =>
  ({
    id: 'key',
    accessorFn: (row) => row.key ?? '',
    header,
    cell: ({ row }) =>
      row.original.key === null ? (
        <span className="muted">{UNNAMED_USERNAME}</span>
      ) : (
        format(row.original.key)
      ),
  }) satisfies ColumnDef<FailurePivotRow>;

/** The columns of each pivot: its key, the failures, and the distinct values on the other sides. */
const PIVOT_COLUMNS: Record<FailurePivotKey, ColumnDef<FailurePivotRow>[]> = {
  ip: [
    keyColumn('Client IP'),
    count('failures', 'Failed logins'),
    count('usernames', 'Usernames tried'),
    count('days', 'Days'),
  ],
  username: [
    keyColumn('Attempted username'),
    count('failures', 'Failed logins'),
    count('clientIps', 'Client IPs'),
    count('days', 'Days'),
  ],
  day: [
    keyColumn('Day', formatDay),
    count('failures', 'Failed logins'),
    count('usernames', 'Usernames tried'),
    count('clientIps', 'Client IPs'),
  ],
};

const NO_PIVOT_ROWS: FailurePivotRow[] = [];

/** Failed logins per client IP, username or day, in the server's ranking. */
function FailurePivotTable({ query, by }: { query: ReportQuery; by: FailurePivotKey }) {
  const pivot = useApi<FailurePivot>(`/api/failures/pivot${queryString({ ...query, by })}`);
  const [sorting, setSorting] = useState<SortingState>([]);
  // A new empty array on every render would make the table reset its page on every render.
  const rows = pivot.data?.by === by ? pivot.data.rows : NO_PIVOT_ROWS;

  const table = useReactTable({
    data: rows,
    columns: PIVOT_COLUMNS[by],
    state: { sorting },
    onSortingChange: setSorting,
    autoResetPageIndex: true,
    initialState: { pagination: { pageIndex: 0, pageSize: 25 } },
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getPaginationRowModel: getPaginationRowModel(),
  });

  return (
    <>
      {pivot.data && (
        <p className="pivot-note" data-testid="failures-pivot-total">
          {formatCount(pivot.data.total)}{' '}
          {{ ip: 'client IPs', username: 'usernames', day: 'days' }[by]}
        </p>
      )}
      {pivot.error && <ErrorNotice error={pivot.error} />}
      <DataTable
        table={table}
        testId="failures-pivot-table"
        caption={`Failed SMTP AUTH logins by ${by}`}
        rowCount={rows.length}
        emptyText={pivot.loading ? 'Loading…' : 'No failed logins match these filters.'}
      />
    </>
  );
}
