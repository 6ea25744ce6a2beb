import { useMemo, useState } from 'react';

import {
  getCoreRowModel,
  getPaginationRowModel,
  getSortedRowModel,
  useReactTable,
  type ColumnDef,
  type SortingState,
} from '@tanstack/react-table';

import { queryString, TLS_LABELS, type FailureRow, type Failures, type ReportQuery } from './api';
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

/** Failed SMTP AUTH logins: who tried which username from where. */
export function FailuresPivot({ query }: { query: ReportQuery }) {
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
    <div className="pivot-body">
      <div className="pivot-toolbar">
        <h3>Failed logins</h3>
        {failures.data && (
          <p className="pivot-note" data-testid="failures-total">
            {formatCount(total)} failed {total === 1 ? 'login' : 'logins'}
          </p>
        )}
      </div>
      <p className="pivot-help">
        Logins the server rejected. The sender domain filter matches the domain of the attempted
        username, and the search matches the username.
      </p>
      {failures.error && <ErrorNotice error={failures.error} />}
      <DataTable
        table={table}
        testId="failures-table"
        caption="Failed SMTP AUTH logins"
        rowCount={rows.length}
        emptyText={failures.loading ? 'Loading…' : 'No failed logins match these filters.'}
      />
    </div>
  );
}
