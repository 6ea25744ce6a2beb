import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ClickHouseStore } from '../../src/store/clickhouse/store.js';
import {
  sql,
  sqlIdentifier,
  sqlTuple,
  sqlValue,
  type SqlValue,
} from '../../src/store/clickhouse/sql.js';
import { clickHouseSkipReason, TestServer } from './server.js';

/** Strings that would break or change a query if they reached it unescaped. */
const HOSTILE = [
  '',
  "'",
  "''",
  '\\',
  "\\'",
  "'\\",
  "\\\\'",
  "'; DROP TABLE hostile; --",
  "' OR 1 = 1 OR s = '",
  '\0',
  'a\0b',
  '\n',
  '\r\n',
  'line one\nline two',
  '\t',
  '\b\f\v\x07',
  '\x1b[31mred\x1b[0m',
  Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join(''),
  '\x7f',
  '\\x41\\0\\n',
  '%s %d {p0:String} ? $1 :name',
  '/* open comment',
  '-- line comment',
  '`backquote` "double"',
  'é ü ß',
  '日本語のメール',
  '😀 👍🏽',
  '\u2028\u2029',
  '\uFEFFbom',
  'ｆｕｌｌｗｉｄｔｈ＇',
  "x'".repeat(20_000),
];

describe('sqlValue literals', () => {
  const cases: [string, SqlValue, string][] = [
    ['plain string', 'abc', "'abc'"],
    ['quote', "a'b", "'a\\'b'"],
    ['backslash', 'a\\b', "'a\\\\b'"],
    ['NUL and newline', 'a\0\nb', "'a\\0\\nb'"],
    ['tab and carriage return', '\t\r', "'\\t\\r'"],
    ['unicode kept as is', 'é😀', "'é😀'"],
    ['integer', 42, '42'],
    ['negative in parentheses', -1, '(-1)'],
    ['negative zero', -0, '0'],
    ['fraction', 0.5, '0.5'],
    ['bigint', 18446744073709551615n, '18446744073709551615'],
    ['true', true, '1'],
    ['false', false, '0'],
    ['null', null, 'NULL'],
    ['date', new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), "toDateTime(1767323045, 'UTC')"],
    ['array', ["a'", 1, null], "['a\\'', 1, NULL]"],
    ['nested array', [[1, -2], []], '[[1, (-2)], []]'],
  ];
  it.each(cases)('%s', (_name, value, expected) => {
    expect(sqlValue(value)).toBe(expected);
  });

  it('rejects values without a literal', () => {
    expect(() => sqlValue(Number.NaN)).toThrow(RangeError);
    expect(() => sqlValue(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => sqlValue(new Date(Number.NaN))).toThrow(RangeError);
    expect(() => sqlValue(new Date(1500))).toThrow(/milliseconds/);
    expect(() => sqlValue('a\uD800b')).toThrow(/surrogate/);
    expect(() => sqlValue('\uDC00')).toThrow(/surrogate/);
  });

  it('sql tag escapes values, keeps SqlText', () => {
    const table = sqlIdentifier('hostile');
    expect(sql`SELECT * FROM ${table} WHERE s = ${"'x"} AND n = ${-2}`.text).toBe(
      "SELECT * FROM hostile WHERE s = '\\'x' AND n = (-2)",
    );
  });

  it('sqlIdentifier accepts plain names only', () => {
    expect(sqlIdentifier('smtp_auth_report_1').text).toBe('smtp_auth_report_1');
    for (const name of ['', '1abc', 'a-b', 'a.b', 'a`b', 'x; DROP', 'é']) {
      expect(() => sqlIdentifier(name), name).toThrow(RangeError);
    }
  });

  it('sqlTuple writes IN lists', () => {
    expect(sqlTuple(['a', "b'"]).text).toBe("('a', 'b\\'')");
    expect(() => sqlTuple([])).toThrow(RangeError);
  });
});

const skipReason = clickHouseSkipReason();

describe.skipIf(skipReason !== null)(
  `sqlValue through ClickHouse${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const server = new TestServer('sql', 18131, 19031);
    let store: ClickHouseStore;

    beforeAll(async () => {
      server.startFresh();
      store = await ClickHouseStore.open(server.location('sql_test'));
      await store.run('DROP TABLE IF EXISTS hostile');
      await store.run('CREATE TABLE hostile (id UInt32, s String) ENGINE = MergeTree ORDER BY id');
      for (const [id, value] of HOSTILE.entries()) {
        await store.run(sql`INSERT INTO hostile VALUES (${id}, ${value})`);
      }
    });

    afterAll(async () => {
      await store?.close();
      server.stop();
    });

    it('stores hostile strings byte for byte', async () => {
      const rows = await store.all(sql`SELECT id, hex(s) AS bytes FROM hostile ORDER BY id`);
      expect(rows.length).toBe(HOSTILE.length);
      for (const [id, value] of HOSTILE.entries()) {
        expect(rows[id].id).toBe(id);
        expect(rows[id].bytes, JSON.stringify(value.slice(0, 40))).toBe(utf8Hex(value));
      }
    });

    it('matches exactly one row per hostile value', async () => {
      for (const [id, value] of HOSTILE.entries()) {
        const rows = await store.all(
          sql`SELECT groupArray(id) AS ids FROM hostile WHERE s = ${value}`,
        );
        expect(rows[0].ids, JSON.stringify(value.slice(0, 40))).toEqual([id]);
      }
    });

    it('selects hostile literals unchanged', async () => {
      for (const value of HOSTILE) {
        const rows = await store.all(sql`SELECT hex(${value}) AS bytes, length(${value}) AS n`);
        expect(rows[0].bytes).toBe(utf8Hex(value));
        expect(rows[0].n).toBe(Buffer.byteLength(value));
      }
    });

    it('keeps numbers, dates and nulls exact', async () => {
      const date = new Date(Date.UTC(2026, 11, 31, 23, 59, 59));
      const rows = await store.all(sql`
        SELECT 1 - ${-1} AS difference, ${-5} * ${3} AS product, ${0.25} AS fraction,
               toString(${18446744073709551615n}) AS max_u64, toUnixTimestamp(${date}) AS seconds,
               isNull(${null}) AS is_null, ${true} AS yes`);
      expect(rows[0]).toEqual({
        difference: 2,
        product: -15,
        fraction: 0.25,
        max_u64: '18446744073709551615',
        seconds: date.getTime() / 1000,
        is_null: 1,
        yes: 1,
      });
    });

    it('keeps arrays of hostile strings exact', async () => {
      const values = HOSTILE.slice(1, 12);
      const rows = await store.all(sql`SELECT arrayMap(x -> hex(x), ${values}) AS bytes`);
      expect(rows[0].bytes).toEqual(values.map(utf8Hex));

      const nested = await store.all(sql`SELECT ${[[1, -2], [3]]} AS a`);
      expect(nested[0].a).toEqual([[1, -2], [3]]);
    });

    it('matches IN lists of hostile values', async () => {
      const wanted = [HOSTILE[1], HOSTILE[7], HOSTILE[10]];
      const rows = await store.all(
        sql`SELECT groupArray(id) AS ids FROM (SELECT id FROM hostile WHERE s IN ${sqlTuple(wanted)} ORDER BY id)`,
      );
      expect(rows[0].ids).toEqual([1, 7, 10]);
    });

    it('leaves the table intact', async () => {
      const rows = await store.all(sql`SELECT count() AS n FROM hostile`);
      expect(rows[0].n).toBe(HOSTILE.length);
    });

    it('logs in with URL credentials', async () => {
      const withUser = await ClickHouseStore.open(
        server.location('sql_test', 'report:report-secret@'),
      );
      try {
        // 18.16 has no user() function; the running query's own row in system.processes names it.
        const rows = await withUser.all(
          sql`SELECT any(user) AS name FROM system.processes WHERE query LIKE '%credentials check%'`,
        );
        expect(rows[0].name).toBe('report');
      } finally {
        await withUser.close();
      }
    });

    it('rejects a wrong password without showing it', async () => {
      const open = ClickHouseStore.open(server.location('sql_test', 'report:wrong-secret@'));
      await expect(open).rejects.toMatchObject({ code: 'STORE_FAILED' });
      await expect(open).rejects.toThrow(/Wrong password for user report/);
      await expect(open).rejects.not.toThrow(/wrong-secret/);
    });
  },
);

function utf8Hex(value: string): string {
  return Buffer.from(value, 'utf8').toString('hex').toUpperCase();
}
