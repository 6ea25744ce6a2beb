import { Ingest, type IngestOptions } from '../../src/ingest/pipeline.js';
import { resolveSources } from '../../src/sources/files.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';

/** Ingest files into a DuckDB store with the test defaults (UTC, year 2026). */
export async function ingestFiles(
  storePath: string,
  files: string[],
  options: Partial<IngestOptions> = {},
) {
  const store = await DuckDBStore.open(storePath);
  try {
    const ingest = new Ingest(store, { timeZone: 'UTC', year: 2026, ...options });
    return await ingest.run(await resolveSources(files));
  } finally {
    store.close();
  }
}

/** Messages and recipients per (account, mechanism, sender, TLS, client IP), and failures. */
export async function storeTotals(storePath: string) {
  const store = await DuckDBStore.open(storePath);
  try {
    const accepted = await store.all(`
      SELECT account, sasl_mechanism AS "saslMechanism", sender_address AS "senderAddress",
             tls_protocol AS "tlsProtocol", client_ip AS "clientIp",
             count(*) AS messages, sum(recipients) AS recipients
      FROM submitted_messages GROUP BY ALL ORDER BY ALL`);
    const failures = await store.all(`
      SELECT attempted_username AS "attemptedUsername", client_ip AS "clientIp",
             tls_protocol AS "tlsProtocol", sasl_mechanism AS "saslMechanism", count(*) AS failures
      FROM auth_failures GROUP BY ALL ORDER BY ALL`);
    return { accepted, failures };
  } finally {
    store.close();
  }
}

/** Sort truth rows the way storeTotals orders them. */
export function sortRows<T extends Record<string, unknown>>(rows: T[]): T[] {
  const key = (row: T) => JSON.stringify(Object.values(row));
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
