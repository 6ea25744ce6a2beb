import { z } from 'zod';

import { invalidOption } from '../errors.js';
import { ACCOUNT_SORTS, type AccountPage } from '../queries/accounts.js';
import { FAILURE_PIVOTS } from '../queries/failures.js';
import type { ReportFilter } from '../queries/filters.js';
import { TLS_ACCOUNT_SORTS, type TlsAccountPage } from '../queries/tls.js';
import { checkDate } from '../time.js';

/** Maximum length of a domain, server or search value (320 is the longest email address). */
const MAX_TEXT = 320;
export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 100;

/** An empty parameter (`domain=`) means the parameter is absent, as a cleared form field sends it. */
const blankToUndefined = (value: unknown) => (value === '' ? undefined : value);

function text() {
  return z.preprocess(
    blankToUndefined,
    z
      .string({ error: 'expected the parameter once, as text' })
      .max(MAX_TEXT, `expected at most ${MAX_TEXT} characters`)
      .optional(),
  );
}

function wholeNumber(min: number, max: number) {
  const expected = `expected a whole number from ${min} to ${max}`;
  return z.preprocess(
    blankToUndefined,
    z
      .string({ error: expected })
      .regex(/^\d{1,10}$/, expected)
      .transform(Number)
      .pipe(z.number().min(min, expected).max(max, expected))
      .optional(),
  );
}

function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess(
    blankToUndefined,
    z.enum(values, { error: `expected one of ${values.join(', ')}` }).optional(),
  );
}

/** Parameters of every report endpoint. */
export const filterQuery = z.strictObject({
  from: text(),
  to: text(),
  domain: text(),
  server: text(),
  search: text(),
});

export const accountsQuery = filterQuery.extend({
  sort: choice(ACCOUNT_SORTS),
  order: choice(['asc', 'desc']),
  limit: wholeNumber(1, MAX_PAGE_SIZE),
  offset: wholeNumber(0, 1_000_000_000),
});

/** The TLS endpoint pages its per-account table like the accounts endpoint. */
export const tlsQuery = filterQuery.extend({
  sort: choice(TLS_ACCOUNT_SORTS),
  order: choice(['asc', 'desc']),
  limit: wholeNumber(1, MAX_PAGE_SIZE),
  offset: wholeNumber(0, 1_000_000_000),
});

/** Failed-login groups the API returns by default, and at most. */
export const DEFAULT_FAILURE_ROWS = 1000;
export const MAX_FAILURE_ROWS = 10_000;

export const failuresQuery = filterQuery.extend({
  limit: wholeNumber(1, MAX_FAILURE_ROWS),
});

/** The failed-logins pivot groups by `by`, client IPs by default. */
export const failurePivotQuery = failuresQuery.extend({
  by: choice(FAILURE_PIVOTS),
});

/** Validate a query string, turning the first problem into an `invalid-option` error. */
export function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.output<T> {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;

  const issue = parsed.error.issues[0];
  const values = (query ?? {}) as Record<string, unknown>;
  if (issue.code === 'unrecognized_keys') {
    const name = issue.keys[0];
    const known = Object.keys((schema as unknown as z.ZodObject).shape).join(', ');
    throw invalidOption(name, values[name], `unknown parameter; expected one of ${known}`);
  }
  const name = String(issue.path[0]);
  throw invalidOption(name, values[name], issue.message);
}

/** Build the report filter, checking that the dates are valid and in order. */
export function toFilter(query: z.output<typeof filterQuery>, timeZone: string): ReportFilter {
  const from = query.from === undefined ? undefined : checkDate(query.from, 'from');
  const to = query.to === undefined ? undefined : checkDate(query.to, 'to');
  if (from && to && from > to) {
    throw invalidOption('from', from, `it is after to ${JSON.stringify(to)}; swap them`);
  }
  return { from, to, domain: query.domain, server: query.server, search: query.search, timeZone };
}

/** Build the accounts page. Names sort A to Z and counts largest first unless `order` is given. */
export function toPage(query: z.output<typeof accountsQuery>): AccountPage {
  const sort = query.sort ?? 'messages';
  return {
    sort,
    order: query.order ?? (sort === 'account' ? 'asc' : 'desc'),
    limit: query.limit ?? DEFAULT_PAGE_SIZE,
    offset: query.offset ?? 0,
  };
}

/** Build the TLS table page, with the same defaults as the accounts page. */
export function toTlsPage(query: z.output<typeof tlsQuery>): TlsAccountPage {
  const sort = query.sort ?? 'messages';
  return {
    sort,
    order: query.order ?? (sort === 'account' ? 'asc' : 'desc'),
    limit: query.limit ?? DEFAULT_PAGE_SIZE,
    offset: query.offset ?? 0,
  };
}
