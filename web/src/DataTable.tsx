import { flexRender, type Header, type RowData, type Table } from '@tanstack/react-table';

import { formatCount } from './format';

declare module '@tanstack/react-table' {
  // Type parameters must match TanStack's own declaration for the merge to work.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface ColumnMeta<TData extends RowData, TValue> {
    /** Right-aligned, tabular figures. */
    numeric?: boolean;
    /** Extra class names for one cell, such as `legacy` for old TLS versions. */
    cellClass?: (row: TData) => string | undefined;
  }
}

export const PAGE_SIZES = [10, 25, 50, 100];

const ARIA_SORT = { asc: 'ascending', desc: 'descending' } as const;
const SORT_MARKS = { asc: '▲', desc: '▼' } as const;

interface DataTableProps<T> {
  table: Table<T>;
  testId: string;
  caption: string;
  /** Rows in all pages together. */
  rowCount: number;
  emptyText: string;
  onRowOpen?: (row: T) => void;
}

/** A TanStack table with sortable headers and a pager; it scrolls sideways inside its box. */
export function DataTable<T>({
  table,
  testId,
  caption,
  rowCount,
  emptyText,
  onRowOpen,
}: DataTableProps<T>) {
  const rows = table.getRowModel().rows;

  return (
    <div className="table-block">
      <div className="table-scroll">
        <table className="data-table" data-testid={testId}>
          <caption className="visually-hidden">{caption}</caption>
          <thead>
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {group.headers.map((header) => (
                  <HeaderCell key={header.id} header={header} />
                ))}
              </tr>
            ))}
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td className="empty-cell" colSpan={table.getVisibleLeafColumns().length}>
                  {emptyText}
                </td>
              </tr>
            )}
            {rows.map((row) => (
              <tr
                key={row.id}
                className={onRowOpen ? 'clickable' : undefined}
                onClick={onRowOpen ? () => onRowOpen(row.original) : undefined}
              >
                {row.getVisibleCells().map((cell) => {
                  const meta = cell.column.columnDef.meta;
                  const classes = [meta?.numeric ? 'numeric' : '', meta?.cellClass?.(row.original)]
                    .filter(Boolean)
                    .join(' ');
                  return (
                    <td key={cell.id} className={classes || undefined}>
                      {flexRender(cell.column.columnDef.cell, cell.getContext())}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager table={table} rowCount={rowCount} testId={`${testId}-pager`} />
    </div>
  );
}

function HeaderCell<T>({ header }: { header: Header<T, unknown> }) {
  const column = header.column;
  const sorted = column.getIsSorted();
  const ariaSort = sorted ? ARIA_SORT[sorted] : undefined;
  const label = flexRender(column.columnDef.header, header.getContext());
  const className = column.columnDef.meta?.numeric ? 'numeric' : undefined;

  if (!column.getCanSort()) {
    return (
      <th scope="col" className={className}>
        {label}
      </th>
    );
  }
  return (
    <th scope="col" className={className} aria-sort={ariaSort}>
      <button
        type="button"
        className="sort-button"
        onClick={column.getToggleSortingHandler()}
        data-column={column.id}
      >
        {label}
        <span className="sort-mark" aria-hidden="true">
          {sorted ? SORT_MARKS[sorted] : '↕'}
        </span>
      </button>
    </th>
  );
}

function Pager<T>({
  table,
  rowCount,
  testId,
}: {
  table: Table<T>;
  rowCount: number;
  testId: string;
}) {
  const { pageIndex, pageSize } = table.getState().pagination;
  const first = rowCount === 0 ? 0 : pageIndex * pageSize + 1;
  const last = Math.min(rowCount, (pageIndex + 1) * pageSize);

  return (
    <div className="pager" data-testid={testId}>
      <span className="pager-range" aria-live="polite">
        {formatCount(first)}–{formatCount(last)} of {formatCount(rowCount)}
      </span>
      <label className="pager-size">
        Rows per page
        <select
          value={pageSize}
          onChange={(event) => table.setPageSize(Number(event.target.value))}
        >
          {PAGE_SIZES.map((size) => (
            <option key={size} value={size}>
              {size}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        onClick={() => table.previousPage()}
        disabled={!table.getCanPreviousPage()}
      >
        Previous
      </button>
      <button type="button" onClick={() => table.nextPage()} disabled={!table.getCanNextPage()}>
        Next
      </button>
    </div>
  );
}
