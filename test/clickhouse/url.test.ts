import { describe, expect, it } from 'vitest';

import { parseAnyStoreUrl, parseClickHouseUrl, parseStoreUrl } from '../../src/store/url.js';

describe('clickhouse store URL', () => {
  it('parses host, port and database', () => {
    expect(parseClickHouseUrl('clickhouse://db.example.org:8123/report')).toEqual({
      kind: 'clickhouse',
      url: 'http://db.example.org:8123',
      database: 'report',
      username: 'default',
      password: '',
    });
  });

  it('defaults the port to 8123', () => {
    expect(parseClickHouseUrl('clickhouse://192.0.2.10/report').url).toBe('http://192.0.2.10:8123');
  });

  it('decodes user and password', () => {
    const location = parseClickHouseUrl('clickhouse://ingest:p%40ss%3Aw%2Fd@[2001:db8::1]:18123/r');
    expect(location.username).toBe('ingest');
    expect(location.password).toBe('p@ss:w/d');
    expect(location.url).toBe('http://[2001:db8::1]:18123');
  });

  it('reads the cluster parameter', () => {
    const location = parseClickHouseUrl('clickhouse://127.0.0.1:8123/report?cluster=sar_cluster');
    expect(location.cluster).toBe('sar_cluster');
  });

  const invalid: [string, RegExp][] = [
    ['clickhouse://127.0.0.1:8123', /database is missing/],
    ['clickhouse://127.0.0.1:8123/', /database is missing/],
    ['clickhouse://127.0.0.1:8123/a-b', /not a plain name/],
    ['clickhouse://127.0.0.1:8123/a/b', /not a plain name/],
    ['clickhouse://127.0.0.1:8123/r?secure=1', /only \?cluster=NAME/],
    ['clickhouse://127.0.0.1:8123/r?cluster=a;b', /cluster a;b is not a plain name/],
    ['clickhouse:///r', /host is missing/],
    ['clickhouse://u:%zz@127.0.0.1/r', /invalid %-escape/],
  ];
  it.each(invalid)('rejects %s', (url, message) => {
    expect(() => parseClickHouseUrl(url)).toThrow(message);
  });

  it('hides the password in errors', () => {
    expect(() => parseClickHouseUrl('clickhouse://u:hunter2@127.0.0.1:8123/a-b')).toThrow(
      /clickhouse:\/\/u:\*\*\*@127\.0\.0\.1/,
    );
    expect(() => parseClickHouseUrl('clickhouse://u:hunter2@127.0.0.1:8123/a-b')).not.toThrow(
      /hunter2/,
    );
  });

  it('parseAnyStoreUrl takes both kinds', () => {
    expect(parseAnyStoreUrl('duckdb:./data/x.duckdb')).toEqual({
      kind: 'duckdb',
      path: './data/x.duckdb',
    });
    expect(parseAnyStoreUrl('clickhouse://127.0.0.1:8123/r').kind).toBe('clickhouse');
  });

  it('parseStoreUrl still opens DuckDB only', () => {
    expect(() => parseStoreUrl('clickhouse://127.0.0.1:8123/r')).toThrow(/not supported/);
  });
});
