import type { DuckDBStore } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';

/** An async mutex that grants the lock in request order. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  /** Waits for the lock and returns the function that releases it. */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const previous = this.tail;
    this.tail = previous.then(() => released);

    await previous;
    return release;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  }
}

const mutexes = new WeakMap<DuckDBStore, Mutex>();

/**
 * Return the mutex that serialises use of a store's single DuckDB connection within this process.
 * Two uses must never overlap: a query started while a streamed result is open ends that
 * stream early without an error (measured with @duckdb/node-api 1.5.6), and a query run
 * during an ingest transaction would see the transaction's uncommitted rows.
 */
export function connectionMutex(store: DuckDBStore): Mutex {
  let mutex = mutexes.get(store);
  if (!mutex) {
    mutex = new Mutex();
    mutexes.set(store, mutex);
  }
  return mutex;
}

/**
 * Return a function that runs a query of the store. On DuckDB it waits for the connection
 * mutex. A ClickHouse store sends each query as an HTTP request, and @clickhouse/client keeps
 * up to 10 sockets by default, so up to 10 queries run at the same time.
 */
export function storeRunner(store: ReportStore): <T>(work: () => Promise<T>) => Promise<T> {
  if (store.kind === 'clickhouse') return (work) => work();
  const mutex = connectionMutex(store);
  return (work) => mutex.run(work);
}

/**
 * A view of the store for the `Ingest` class in which every method call waits for the
 * connection mutex, so that API requests run between ingest batches rather than inside them.
 * Each call runs on the real store, whose internal calls (such as `writeBatch` opening its
 * transaction) do not wait again. Only promise-returning methods work through this view,
 * which is all that `Ingest` calls.
 */
export function serialisedStore(store: DuckDBStore): DuckDBStore {
  const mutex = connectionMutex(store);
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => mutex.run(async () => value.apply(target, args));
    },
  });
}
