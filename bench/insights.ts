/**
 * Times the signal engine on a store, as `smtp-auth-report insights` runs it: all signals for
 * the default period (the 7 days ending at the newest event) or the given dates.
 *
 *   node --import tsx bench/insights.ts --store FILE [--from DATE] [--to DATE] [--runs N]
 *       [--timezone TZ] [--target-ms MS]
 *
 * The store is opened for writing (DuckDB applies migrations), so pass a copy of any store
 * that must stay as it is. The review-mark table is created when the store has none. Exit
 * status 1 when the slowest run after the first exceeds the target (2000 ms by default).
 */
import { parseArgs } from 'node:util';

import { resolvePeriod } from '../src/queries/filters.js';
import { computeInsights } from '../src/insights/engine.js';
import { INSIGHT_REVIEWS_MIGRATION } from '../src/insights/schema.js';
import { DEFAULT_INSIGHT_SETTINGS } from '../src/insights/settings.js';
import { DuckDBStore } from '../src/store/duckdb/store.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    runs: { type: 'string', default: '5' },
    timezone: { type: 'string', default: 'UTC' },
    'target-ms': { type: 'string', default: '2000' },
  },
});
if (!values.store) {
  process.stderr.write('usage: bench/insights.ts --store FILE [--runs N] [--from D] [--to D]\n');
  process.exit(2);
}

const store = await DuckDBStore.open(values.store);
try {
  await applyReviewTable(store);
  const filter = { from: values.from, to: values.to, timeZone: values.timezone };
  const period = await resolvePeriod(store, filter);
  const runs = Number(values.runs);
  const target = Number(values['target-ms']);
  const durations: number[] = [];

  for (let run = 1; run <= runs; run++) {
    const started = performance.now();
    const result = await computeInsights((sql, params) => store.all(sql, params), {
      period,
      timeZone: values.timezone,
      settings: DEFAULT_INSIGHT_SETTINGS,
    });
    const ms = Math.round(performance.now() - started);
    durations.push(ms);
    console.log(`run ${run}: ${ms} ms, ${result.signals.length} signals`);
    if (run === runs) printSummary(period, result.signals, result.timings);
  }

  const slowest = Math.max(...durations.slice(runs > 1 ? 1 : 0));
  console.log(`slowest run after the first: ${slowest} ms (target < ${target} ms)`);
  process.exitCode = slowest < target ? 0 : 1;
} finally {
  store.close();
}

async function applyReviewTable(store: DuckDBStore): Promise<void> {
  const migration = INSIGHT_REVIEWS_MIGRATION;
  const applied = await store.all('SELECT 1 FROM schema_migrations WHERE version = $1', [
    migration.version,
  ]);
  if (applied.length > 0) return;
  await store.transaction(async () => {
    await store.all(migration.sql);
    await store.all('INSERT INTO schema_migrations VALUES ($1, $2, now())', [
      migration.version,
      migration.name,
    ]);
  });
}

function printSummary(
  period: { from: string; to: string },
  signals: { signal: string; severity: string }[],
  timings: Record<string, number>,
): void {
  console.log(`period ${period.from} to ${period.to}`);
  console.log(`per family (ms): ${JSON.stringify(timings)}`);
  const counts = new Map<string, number>();
  for (const s of signals) {
    const key = `${s.signal} ${s.severity}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const [key, count] of [...counts].sort()) console.log(`  ${key}: ${count}`);
}
