import { z } from 'zod';

import { invalidOption } from './errors.js';
import { DEFAULT_STORE_URL } from './store/url.js';
import { checkTimeZone, machineTimeZone } from './time.js';

/**
 * Settings shared by the commands. Precedence: defaults, then SMTP_AUTH_REPORT_* environment
 * variables, then command-line flags.
 */
const settingsSchema = z.object({
  store: z.string().min(1).default(DEFAULT_STORE_URL),
  timeZone: z.string().min(1).default(machineTimeZone()),
});

export type Settings = z.infer<typeof settingsSchema>;

export const ENVIRONMENT = {
  store: 'SMTP_AUTH_REPORT_STORE',
  timeZone: 'SMTP_AUTH_REPORT_TIMEZONE',
} as const;

export function loadSettings(
  flags: { store?: string; timezone?: string },
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  const merged = {
    store: flags.store ?? nonEmpty(env[ENVIRONMENT.store]),
    timeZone: flags.timezone ?? nonEmpty(env[ENVIRONMENT.timeZone]),
  };
  const parsed = settingsSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalidOption(String(issue.path[0]), merged, issue.message);
  }
  checkTimeZone(parsed.data.timeZone, flags.timezone ? '--timezone' : ENVIRONMENT.timeZone);
  return parsed.data;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
