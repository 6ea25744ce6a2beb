import { invalidOption } from './errors.js';
import { DEFAULT_STORE_URL } from './store/url.js';
import { checkTimeZone, machineTimeZone } from './time.js';

/**
 * Settings shared by the commands. Precedence: defaults, then SMTP_AUTH_REPORT_* environment
 * variables, then command-line flags.
 */
export interface Settings {
  store: string;
  timeZone: string;
}

export const ENVIRONMENT = {
  store: 'SMTP_AUTH_REPORT_STORE',
  timeZone: 'SMTP_AUTH_REPORT_TIMEZONE',
} as const;

export function loadSettings(
  flags: { store?: string; timezone?: string },
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  const store = flags.store ?? nonEmpty(env[ENVIRONMENT.store]) ?? DEFAULT_STORE_URL;
  if (store === '') {
    throw invalidOption('--store', store, `give a store URL such as ${DEFAULT_STORE_URL}`);
  }

  const timeZone = flags.timezone ?? nonEmpty(env[ENVIRONMENT.timeZone]) ?? machineTimeZone();
  checkTimeZone(timeZone, flags.timezone === undefined ? ENVIRONMENT.timeZone : '--timezone');
  return { store, timeZone };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
