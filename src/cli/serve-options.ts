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
