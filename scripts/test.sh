#!/usr/bin/env bash
# The test command (`npm test`): installs what the end-to-end and browser tests need (as
# root on Debian), builds, and runs the tests with Vitest in two passes:
#
#   1. every test, on the stores each test opens itself (DuckDB files, and the ClickHouse
#      servers of test/clickhouse);
#   2. the CLI report tests (CLICKHOUSE_PASS_FILES) again with SMTP_AUTH_REPORT_TEST_STORE=
#      clickhouse, so each of their stores is a new database on one ClickHouse server that
#      this script starts on 127.0.0.1:18181 (native 19081) and stops at the end.
#
# Arguments go to Vitest in the first pass only. SMTP_AUTH_REPORT_TEST_CLICKHOUSE_PASS=0 leaves
# out the second pass. Prints one closing line `N passed, N failed, N skipped`, the sum of both
# passes, and exits non-zero when either pass failed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tests that report through the CLI on whatever store SMTP_AUTH_REPORT_TEST_STORE names. Tests
# of DuckDB internals (locks, rollups, checkpoints, the journal cursor) are not listed.
CLICKHOUSE_PASS_FILES=(
  test/cli/report.test.ts
  test/cli/days.test.ts
  test/cli/formats.test.ts
  test/cli/corpus.test.ts
)
CLICKHOUSE_HTTP_PORT=18181
CLICKHOUSE_TCP_PORT=19081
CLICKHOUSE_DIR=/tmp/smtp-auth-report-clickhouse-test-pass
# Exit code of scripts/clickhouse.sh when clickhouse-server is missing and cannot be installed.
CLICKHOUSE_NOT_INSTALLED=3

bash scripts/install-test-deps.sh
npm run build --silent

work=$(mktemp -d)
clickhouse_started=0

clickhouse() {
  SMTP_AUTH_REPORT_CLICKHOUSE_DIR="$CLICKHOUSE_DIR" \
    SMTP_AUTH_REPORT_CLICKHOUSE_HTTP_PORT="$CLICKHOUSE_HTTP_PORT" \
    SMTP_AUTH_REPORT_CLICKHOUSE_TCP_PORT="$CLICKHOUSE_TCP_PORT" \
    bash scripts/clickhouse.sh "$@"
}

cleanup() {
  # clickhouse.sh stops the server by the pid it recorded at start.
  if ((clickhouse_started)); then
    clickhouse stop || echo "test.sh: could not stop the ClickHouse server in $CLICKHOUSE_DIR" >&2
    rm -rf "$CLICKHOUSE_DIR"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

status=0
npx vitest run --reporter=default --reporter=json --outputFile="$work/duckdb.json" "$@" ||
  status=$?

run_clickhouse_pass() {
  echo
  echo "ClickHouse pass: ${CLICKHOUSE_PASS_FILES[*]}"

  # A fresh data folder, so that no database of an earlier run is left on the server.
  clickhouse stop
  rm -rf "$CLICKHOUSE_DIR"
  local start_status=0
  clickhouse start || start_status=$?
  if ((start_status == CLICKHOUSE_NOT_INSTALLED)); then
    echo "ClickHouse pass skipped: clickhouse-server is not installed and cannot be installed here"
    return 0
  fi
  clickhouse_started=1
  if ((start_status != 0)); then
    echo "ClickHouse pass failed: scripts/clickhouse.sh start exited with $start_status" >&2
    return 1
  fi

  SMTP_AUTH_REPORT_TEST_STORE=clickhouse \
    SMTP_AUTH_REPORT_TEST_CLICKHOUSE_PORT="$CLICKHOUSE_HTTP_PORT" \
    npx vitest run --reporter=default --reporter=json --outputFile="$work/clickhouse.json" \
    "${CLICKHOUSE_PASS_FILES[@]}"
}

if [[ "${SMTP_AUTH_REPORT_TEST_CLICKHOUSE_PASS:-1}" != 0 ]]; then
  clickhouse_status=0
  run_clickhouse_pass || clickhouse_status=$?
  if ((status == 0)); then
    status=$clickhouse_status
  fi
fi

# Sums the JSON reports of the passes that wrote one.
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const file of process.argv.slice(1)) {
    if (!fs.existsSync(file)) continue;
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$work/duckdb.json" "$work/clickhouse.json" || true
exit "$status"
