import type { Command } from 'commander';

import { checkToken } from '../server/auth.js';
import {
  checkListenAllowed,
  DEFAULT_LISTEN,
  parseListen,
  type ListenAddress,
} from '../server/listen.js';

/*
 * The options of `serve` and `run`, apart from the server itself so that the other
 * commands start without loading Fastify.
 */

export const TOKEN_ENVIRONMENT = 'SMTP_AUTH_REPORT_TOKEN';

export interface ServeFlags {
  listen: string;
  token?: string;
  /** Logs to keep ingesting as they grow; empty for none. */
  follow: string[];
  year?: number;
  serverName?: string;
  /** Webhook for new signals; the environment's ALERT_WEBHOOK_ENV when not given. */
  alertWebhook?: string;
  /** Signals below this severity are not sent; all by default. */
  alertMinSeverity?: string;
  /** Seconds between signal computations after new log lines, as given on the command line. */
  alertInterval?: string;
}

/** Default of --alert-interval: one computation per half minute of a growing log at most. */
export const DEFAULT_ALERT_INTERVAL_SECONDS = 30;

/** Add the options of `serve --alert-webhook`. */
export function addAlertOptions(command: Command): Command {
  return command
    .option(
      '--alert-webhook <url>',
      'POST the open signals as JSON to this URL at start, then each new or escalated one ' +
        'found after new log lines of --follow (env SMTP_AUTH_REPORT_ALERT_WEBHOOK)',
    )
    .option(
      '--alert-min-severity <severity>',
      'send only signals at or above: low, medium, high, critical (default: low)',
    )
    .option(
      '--alert-interval <seconds>',
      'compute the signals at most once per this many seconds after new log lines ' +
        `(default: ${DEFAULT_ALERT_INTERVAL_SECONDS})`,
    );
}

/** Add the options that `serve` and `run` share. */
export function addServeOptions(command: Command): Command {
  return command
    .option(
      '--listen <host:port>',
      'address to serve the report on; an address other than loopback needs a token',
      DEFAULT_LISTEN,
    )
    .option(
      '--token <token>',
      `access token for the web UI and API, at least 16 characters (env ${TOKEN_ENVIRONMENT}, ` +
        'which keeps it out of the process list)',
    );
}

export function checkServeFlags(flags: ServeFlags): { token?: string; listen: ListenAddress } {
  const token = resolveToken(flags.token);
  const listen = parseListen(flags.listen);
  checkListenAllowed(listen, token);
  return { token, listen };
}

function resolveToken(flag: string | undefined): string | undefined {
  if (flag !== undefined) return checkToken(flag, '--token');
  const env = process.env[TOKEN_ENVIRONMENT];
  return env === undefined || env === '' ? undefined : checkToken(env, TOKEN_ENVIRONMENT);
}
