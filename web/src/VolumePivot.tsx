import { useMemo, useState } from 'react';

import {
  getCoreRowModel,
  useReactTable,
  type ColumnDef,
  type PaginationState,
  type SortingState,
} from '@tanstack/react-table';

import {
  queryString,
  type AccountPage,
  type AccountRow,
  type ReportQuery,
  type Volume,
} from './api';
import { AccountLink } from './AccountLink';
import { Chart } from './Chart';
import { chartDays, volumeChartOption } from './charts';
import { DataTable } from './DataTable';
import { formatCount, formatPeriod } from './format';
import { ErrorNotice } from './Notices';
import { useApi } from './useApi';
import { ViewToggle, type PivotView } from './ViewToggle';

interface VolumePivotProps {
  query: ReportQuery;
  accountHref: (account: string) => string;
  onOpenAccount: (account: string) => void;
}

const DEFAULT_SORTING: SortingState = [{ id: 'messages', desc: true }];

/** Sending Volume: messages per day and sender domain, and the accounts that sent them. */
export function VolumePivot({ query, accountHref, onOpenAccount }: VolumePivotProps) {
  const [view, setView] = useState<PivotView>('both');
  const volume = useApi<Volume>(`/api/volume${queryString({ ...query })}`);

  const option = useMemo(() => {
    if (!volume.data) return null;
    const { from, to, rows } = volume.data;
    return volumeChartOption(
      chartDays(
        from,
        to,
        rows.map((row) => row.day),
      ),
      rows,
    );
  }, [volume.data]);

  const domainCount = new Set(volume.data?.rows.map((row) => row.senderDomain)).size;

  return (
    <div className="pivot-body">
      <div className="pivot-toolbar">
        <h3>Messages per day by sender domain</h3>
        <ViewToggle view={view} onChange={setView} />
      </div>
      {volume.error && <ErrorNotice error={volume.error} />}
      {view !== 'table' && option && volume.data && (
        <Chart
          option={option}
          testId="volume-chart"
          label={`Bar chart of messages per day from ${formatPeriod(volume.data.from, volume.data.to)}, stacked by sender domain, ${domainCount} ${domainCount === 1 ? 'domain' : 'domains'}.`}
        />
      )}
      {view !== 'chart' && (
        <AccountsTable query={query} accountHref={accountHref} onOpenAccount={onOpenAccount} />
      )}
    </div>
  );
}

/** The accounts table, sorted and paged by the server. */
function AccountsTable({ query, accountHref, onOpenAccount }: VolumePivotProps) {
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
  const url = `/api/accounts${queryString({
    ...query,
    sort: sort.id,
    order: sort.desc ? 'desc' : 'asc',
    limit: pagination.pageSize,
    offset: pagination.pageIndex * pagination.pageSize,
  })}`;
  const accounts = useApi<AccountPage>(url);

  const columns = useMemo<ColumnDef<AccountRow>[]>(
    () => [
      {
        id: 'account',
        accessorKey: 'account',
        header: 'Account',
        cell: ({ row }) => (
          <AccountLink
            account={row.original.account}
            href={accountHref(row.original.account)}
            onOpen={() => onOpenAccount(row.original.account)}
          />
        ),
      },
      {
        id: 'senderAddresses',
        header: 'Sender addresses',
        enableSorting: false,
        cell: ({ row }) => <SenderAddresses addresses={row.original.senderAddresses} />,
      },
      {
        id: 'messages',
        accessorKey: 'messages',
        header: 'Messages',
        meta: { numeric: true },
        cell: ({ row }) => formatCount(row.original.messages),
      },
      {
        id: 'recipients',
        accessorKey: 'recipients',
        header: 'Recipients',
        meta: { numeric: true },
        cell: ({ row }) => formatCount(row.original.recipients),
      },
    ],
    [accountHref, onOpenAccount],
  );

  const table = useReactTable({
    data: accounts.data?.rows ?? [],
    columns,
    state: { sorting, pagination },
    onSortingChange: (updater) => {
      setSorting(updater);
      setPagination((page) => ({ ...page, pageIndex: 0 }));
    },
    onPaginationChange: setPagination,
    manualSorting: true,
    manualPagination: true,
    enableSortingRemoval: false,
    rowCount: accounts.data?.total ?? 0,
    getCoreRowModel: getCoreRowModel(),
  });

  return (
    <>
      {accounts.error && <ErrorNotice error={accounts.error} />}
      <DataTable
        table={table}
        testId="details-table"
        caption="Accounts that sent mail with SMTP AUTH"
        rowCount={accounts.data?.total ?? 0}
        emptyText={accounts.loading ? 'Loading…' : 'No messages match these filters.'}
        onRowOpen={(row) => onOpenAccount(row.account)}
      />
    </>
  );
}

function SenderAddresses({ addresses }: { addresses: string[] }) {
  return (
    <ul className="cell-list">
      {addresses.map((address) => (
        <li key={address}>{address === '' ? '<> (null sender)' : address}</li>
      ))}
    </ul>
  );
}
