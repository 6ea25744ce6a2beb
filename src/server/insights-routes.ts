import { isIP } from 'node:net';

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

import { invalidOption } from '../errors.js';
import { computeInsights } from '../insights/engine.js';
import {
  addReview,
  characterCount,
  MAX_NOTE_LENGTH,
  type ReviewMark,
} from '../insights/reviews.js';
import { DEFAULT_INSIGHT_SETTINGS, type InsightSettings } from '../insights/settings.js';
import { SEVERITIES, SIGNAL_NAMES, type Signal } from '../insights/signal.js';
import { resolvePeriod } from '../queries/filters.js';
import type { DuckDBStore, StoreQuery } from '../store/duckdb/store.js';
import { addDays, checkDate, ZoneConverter } from '../time.js';
import { connectionMutex } from './mutex.js';
import { parseQuery } from './params.js';
import { sendDuckDBOnly } from './store-kind.js';

/** Only the endpoints' own values: a longer account or address is no login. */
const MAX_SUBJECT = 320;

/** Evidence spans at most the period and its history; this bounds a corrupt time range. */
const MAX_EVIDENCE_DAYS = 800;

const blankToUndefined = (value: unknown) => (value === '' ? undefined : value);

function optionalChoice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess(
    blankToUndefined,
    z.enum(values, { error: `expected one of ${values.join(', ')}` }).optional(),
  );
}

const optionalDate = z.preprocess(
  blankToUndefined,
  z.string({ error: 'expected the parameter once, as text' }).optional(),
);

/** Parameters of `GET /api/insights`: the period and the choices of `smtp-auth-report insights`. */
export const insightsQuery = z.strictObject({
  from: optionalDate,
  to: optionalDate,
  minSeverity: optionalChoice(SEVERITIES),
  reviewed: optionalChoice(['include', 'exclude']),
});

/** The body of `POST /api/reviews`: one subject, a note, optionally one signal. */
export const reviewBody = z
  .strictObject({
    account: z.string().trim().min(1, 'it is empty').max(MAX_SUBJECT).optional(),
    clientIp: z
      .string()
      .trim()
      .min(1, 'it is empty')
      .max(MAX_SUBJECT)
      .refine((ip) => isIP(ip) !== 0, 'expected an IPv4 or IPv6 address')
      .optional(),
    note: z
      .string({ error: 'write what was checked or done' })
      .trim()
      .min(1, 'write what was checked or done')
      .refine(
        (note) => characterCount(note) <= MAX_NOTE_LENGTH,
        `expected at most ${MAX_NOTE_LENGTH} characters`,
      ),
    signal: z
      .enum(SIGNAL_NAMES, { error: `expected one of ${SIGNAL_NAMES.join(', ')}` })
      .optional(),
    permanent: z.boolean({ error: 'expected true or false' }).optional(),
  })
  .refine((body) => (body.account === undefined) !== (body.clientIp === undefined), {
    message: 'give either account or clientIp',
    path: ['account'],
  });

/** A signal as the API lists it: the CLI's JSON object plus the report days of its evidence. */
export type ListedSignal = Signal & { evidenceDays: string[] };

export interface InsightsApiContext {
  store: DuckDBStore;
  timeZone: string;
  settings?: InsightSettings;
}

/** Register `GET /api/insights` and `POST /api/reviews`. */
export function registerInsightRoutes(app: FastifyInstance, context: InsightsApiContext): void {
  const { store, timeZone } = context;
  const settings = context.settings ?? DEFAULT_INSIGHT_SETTINGS;
  const mutex = connectionMutex(store);
  // One lock per statement: a computation runs several queries, and an ingest batch of
  // `serve --follow` or another request may run between them.
  const query: StoreQuery = (sql, params) => mutex.run(() => store.all(sql, params));

  app.get('/api/insights', async (request) => {
    const params = parseQuery(insightsQuery, request.query);
    const filter = { ...checkedDates(params), timeZone };

    const period = await mutex.run(() => resolvePeriod(store, filter));
    const result = await computeInsights(query, {
      period,
      timeZone,
      settings,
      minSeverity: params.minSeverity,
      includeReviewed: params.reviewed === 'include',
    });

    const zone = new ZoneConverter(timeZone);
    const open = result.signals.filter((signal) => signal.reviewed === null).length;
    return {
      from: period.from,
      to: period.to,
      timeZone,
      open,
      reviewed: result.reviewed,
      signals: result.signals.map((signal) => listed(signal, zone)),
    };
  });

  app.post('/api/reviews', async (request, reply) => {
    const body = parseBody(request.body);

    const mark = await addReview(query, {
      subjectKind: body.account !== undefined ? 'account' : 'client-ip',
      subject: body.account ?? body.clientIp ?? '',
      signal: body.signal ?? null,
      note: body.note,
      permanent: body.permanent === true,
    });

    return reply.code(201).send(markJson(mark));
  });
}

/**
 * Register `GET /api/insights` and `POST /api/reviews` for a ClickHouse store. Both send 501
 * with the reason, because the insights engine and its reviews run DuckDB SQL.
 */
export function registerInsightsUnavailable(app: FastifyInstance): void {
  app.get('/api/insights', async (_request, reply) => sendDuckDBOnly(reply, 'GET /api/insights'));
  app.post('/api/reviews', async (_request, reply) => sendDuckDBOnly(reply, 'POST /api/reviews'));
}

function checkedDates(params: { from?: string; to?: string }): { from?: string; to?: string } {
  const from = params.from === undefined ? undefined : checkDate(params.from, 'from');
  const to = params.to === undefined ? undefined : checkDate(params.to, 'to');
  if (from && to && from > to) {
    throw invalidOption('from', from, `it is after to ${JSON.stringify(to)}; swap them`);
  }
  return { from, to };
}

function parseBody(body: unknown): z.output<typeof reviewBody> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidOption('body', body ?? null, 'expected a JSON object with account and note');
  }
  const parsed = reviewBody.safeParse(body);
  if (parsed.success) return parsed.data;

  const issue = parsed.error.issues[0];
  const values = body as Record<string, unknown>;
  if (issue.code === 'unrecognized_keys') {
    const name = issue.keys[0];
    const known = 'account, clientIp, note, signal, permanent';
    throw invalidOption(name, values[name], `unknown field; expected one of ${known}`);
  }
  const name = String(issue.path[0]);
  throw invalidOption(name, shown(values[name]), issue.message);
}

/** Shorten a value for an error message to repeat: a long text (a note) is cut after 40 characters. */
function shown(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length <= SHOWN_TEXT) return value;
  return `${value.slice(0, SHOWN_TEXT)}...`;
}

const SHOWN_TEXT = 40;

function markJson(mark: ReviewMark) {
  const { subjectKind, subject, signal, note, reviewedAt, reviewedThrough } = mark;
  return { subjectKind, subject, signal, note, reviewedAt, reviewedThrough };
}

function listed(signal: Signal, zone: ZoneConverter): ListedSignal {
  return { ...signal, evidenceDays: evidenceDays(signal, zone) };
}

/**
 * List the report days the evidence falls on, for the account chart to highlight. A volume spike
 * names the days and hours that fired; other signals span their first to last log line.
 */
export function evidenceDays(signal: Signal, zone: ZoneConverter): string[] {
  if (signal.signal === 'volume-spike') {
    const days = (signal.evidence.days ?? []) as { day: string }[];
    const hours = (signal.evidence.hours ?? []) as { hour: string }[];
    const all = [...days.map((d) => d.day), ...hours.map((h) => h.hour.slice(0, 10))];
    return [...new Set(all)].sort();
  }

  const first = localDay(signal.firstSeen, zone);
  const last = localDay(signal.lastSeen, zone);
  const days: string[] = [];
  for (let day = first; day <= last && days.length < MAX_EVIDENCE_DAYS; day = addDays(day, 1)) {
    days.push(day);
  }
  return days;
}

function localDay(iso: string, zone: ZoneConverter): string {
  const ms = Date.parse(iso);
  return new Date(ms + zone.offsetAt(ms)).toISOString().slice(0, 10);
}
