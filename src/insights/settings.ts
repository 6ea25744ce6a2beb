import { readFileSync } from 'node:fs';

import { z } from 'zod';

import { invalidOption } from '../errors.js';

/**
 * Thresholds of the signal engine. Every default is named and explained here and in
 * docs/insights.md; a JSON file passed with `--thresholds` overrides any subset of them.
 */
const count = (value: number) => z.number().int().min(1).default(value);
const minutes = (value: number) => z.number().int().min(1).max(1440).default(value);

const volumeSpike = z
  .object({
    /** A day must exceed the daily median by at least this many messages. */
    dailyMinExcess: count(50),
    /** An hour must exceed the median of the account's active hours by at least this many. */
    hourlyMinExcess: count(30),
    /** A day must also reach this multiple of the daily median. */
    dailyMinRatio: z.number().min(1).default(3),
    /** An hour must also reach this multiple of the hourly median. */
    hourlyMinRatio: z.number().min(1).default(5),
    /** And exceed the median by this many robust standard deviations (1.4826 x MAD). */
    madFactor: z.number().min(0).default(8),
    /** An excess of this many messages in a day or an hour makes the spike high severity. */
    highExcess: count(500),
  })
  .strict()
  .prefault({});

const newClientIp = z
  .object({
    /** A new address in a network the account used (IPv4 /24, IPv6 /48) counts as known. */
    sameNetworkIsKnown: z.boolean().default(true),
    /** A new address that sent at least this many messages is medium severity, else low. */
    mediumMessages: count(100),
  })
  .strict()
  .prefault({});

const manyClientIps = z
  .object({
    /** Length of the clock-aligned windows in which distinct client addresses are counted. */
    windowMinutes: minutes(60),
    /** Distinct client addresses in one window that make the signal fire. */
    minIps: count(5),
    /** Distinct addresses in one window that make it high severity. */
    highIps: count(20),
  })
  .strict()
  .prefault({});

const foreignSender = z
  .object({
    /**
     * A new address in the login's own domain counts only for accounts that sent this many
     * messages in their history, because fewer have not shown which shared addresses they use.
     */
    minHistoryMessages: count(50),
  })
  .strict()
  .prefault({});

const tls = z
  .object({
    /** Clients on 127.0.0.0/8 or ::1 (webmail on the same host) need no TLS. */
    ignoreLoopback: z.boolean().default(true),
  })
  .strict()
  .prefault({});

const loginAfterFailures = z
  .object({
    /** Failed logins for one username that make a burst. */
    minFailures: count(5),
    /** Failures closer together than this belong to the same burst. */
    burstGapMinutes: minutes(15),
    /** A message sent this long after the burst's last failure counts as its success. */
    successWithinMinutes: minutes(60),
  })
  .strict()
  .prefault({});

const passwordSpraying = z
  .object({
    windowMinutes: minutes(60),
    /** Distinct attempted usernames from one client address in one window. */
    minUsernames: count(10),
  })
  .strict()
  .prefault({});

const usernameManyIps = z
  .object({
    windowMinutes: minutes(60),
    /** Distinct client addresses that failed with one username in one window. */
    minIps: count(10),
  })
  .strict()
  .prefault({});

const unusualHour = z
  .object({
    /** Messages the account must have sent in its history before its hours mean anything. */
    minHistoryMessages: count(100),
    /** An hour within this many hours of a used hour of the day is not unusual. */
    marginHours: z.number().int().min(0).max(11).default(1),
    /** Messages at unusual hours that make the signal fire. */
    minMessages: count(5),
    /** Messages at unusual hours that make it medium severity. */
    mediumMessages: count(50),
  })
  .strict()
  .prefault({});

export const insightSettingsSchema = z
  .object({
    /** Days before the period that form each account's own history. */
    historyDays: z.number().int().min(7).max(366).default(28),
    /**
     * History-based signals need the account's first message in the history at least this many
     * days before the period, because a newer account has no baseline to compare with.
     */
    minHistoryDays: z.number().int().min(1).max(366).default(14),
    volumeSpike,
    newClientIp,
    manyClientIps,
    foreignSender,
    tls,
    loginAfterFailures,
    passwordSpraying,
    usernameManyIps,
    unusualHour,
  })
  .strict()
  .refine((s) => s.minHistoryDays <= s.historyDays, {
    message: 'minHistoryDays must not exceed historyDays',
    path: ['minHistoryDays'],
  });

export type InsightSettings = z.infer<typeof insightSettingsSchema>;

/** The documented defaults. */
export const DEFAULT_INSIGHT_SETTINGS: InsightSettings = insightSettingsSchema.parse({});

/** Validate partial settings (from a file or a test) on top of the defaults. */
export function parseInsightSettings(value: unknown, source = '--thresholds'): InsightSettings {
  const parsed = insightSettingsSchema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;

  const issue = parsed.error.issues[0];
  const where = issue.path.length > 0 ? issue.path.join('.') : 'the top level';
  throw invalidOption(source, where, `${issue.message}; see docs/insights.md for the settings`);
}

/** Read a JSON thresholds file. */
export function loadInsightSettings(file: string | undefined): InsightSettings {
  if (file === undefined) return DEFAULT_INSIGHT_SETTINGS;

  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalidOption('--thresholds', file, `cannot read it: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidOption('--thresholds', file, `not valid JSON: ${(err as Error).message}`);
  }
  return parseInsightSettings(value, `--thresholds ${file}`);
}
