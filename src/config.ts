import { AppError, invalidOption } from './errors.js';
import { DEFAULT_STORE_URL, parseAnyStoreUrl } from './store/url.js';
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
  checkStoreUrl(store, flags.store === undefined ? ENVIRONMENT.store : '--store');

  const timeZone = flags.timezone ?? nonEmpty(env[ENVIRONMENT.timeZone]) ?? machineTimeZone();
  checkTimeZone(timeZone, flags.timezone === undefined ? ENVIRONMENT.timeZone : '--timezone');
  return { store, timeZone };
}

/** Check the store URL early, so that its error names where the URL came from. */
function checkStoreUrl(store: string, source: string): void {
  try {
    parseAnyStoreUrl(store);
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'INVALID_STORE_URL') throw err;
    const value = `${err.details.value} from ${source}`;
    throw new AppError('INVALID_STORE_URL', { ...err.details, value }, { cause: err });
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
