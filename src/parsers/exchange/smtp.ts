/**
 * The SMTP content of Exchange SmtpReceive rows: client commands (`<`), server replies (`>`)
 * and the information rows (`*`) that matter for SMTP AUTH.
 */
import type { TlsProtocol } from '../../events.js';

export type Command =
  | { verb: 'AUTH'; mechanism: string; interServer: boolean }
  | { verb: 'MAIL'; sender: string }
  | { verb: 'RCPT'; recipient: string }
  | { verb: 'BDAT'; last: boolean }
  | { verb: 'EHLO'; helo: string }
  | { verb: 'DATA' | 'RSET' | 'STARTTLS' | 'XPROXY' | 'OTHER' };

export interface Reply {
  code: number;
  text: string;
}

/** Commands that only Exchange servers send to each other: such sessions are no client's. */
const INTER_SERVER = new Set(['XPROXY', 'XPROXYFROM', 'XPROXYTO', 'XSESSIONPARAMS']);

/** Parses the command of a `<` row. AUTH keeps only the mechanism, never an initial response. */
export function parseCommand(data: string): Command {
  const space = data.indexOf(' ');
  const verb = (space < 0 ? data : data.slice(0, space)).toUpperCase();
  const argument = space < 0 ? '' : data.slice(space + 1).trim();

  switch (verb) {
    case 'AUTH':
      return { verb, mechanism: firstWord(argument).toUpperCase(), interServer: false };
    case 'X-EXPS':
      return {
        verb: 'AUTH',
        mechanism: `X-EXPS ${firstWord(argument).toUpperCase()}`,
        interServer: true,
      };
    case 'MAIL':
      return { verb, sender: pathOf(argument, 'FROM:') };
    case 'RCPT':
      return { verb, recipient: pathOf(argument, 'TO:') };
    case 'BDAT':
      return { verb, last: /\bLAST\b/i.test(argument) };
    case 'EHLO':
    case 'HELO':
      return { verb: 'EHLO', helo: firstWord(argument) };
    case 'DATA':
    case 'RSET':
    case 'STARTTLS':
      return { verb };
    default:
      return { verb: INTER_SERVER.has(verb) ? 'XPROXY' : 'OTHER' };
  }
}

function firstWord(text: string): string {
  const space = text.indexOf(' ');
  return space < 0 ? text : text.slice(0, space);
}

/** Returns the address inside `FROM:<a@example.org> SIZE=1` or `TO:<b@example.org>`. */
function pathOf(argument: string, keyword: string): string {
  let rest = argument;
  if (rest.toUpperCase().startsWith(keyword)) rest = rest.slice(keyword.length).trimStart();

  if (rest.startsWith('<')) {
    const close = rest.indexOf('>');
    return close < 0 ? rest.slice(1) : rest.slice(1, close);
  }
  return firstWord(rest);
}

/** Parses the reply of a `>` row, or returns null when it does not start with a 3-digit code. */
export function parseReply(data: string): Reply | null {
  const match = /^(\d{3})(?:[ -]|$)/.exec(data);
  if (!match) return null;
  return { code: Number(match[1]), text: data.slice(4) };
}

/**
 * Schannel protocol names (schannel.h `SP_PROT_*`). SSL 3.0 and older have no TLS version
 * in the report, so they are `unknown` rather than counted as a TLS version or as no TLS.
 */
const SCHANNEL_PROTOCOLS: Record<string, TlsProtocol> = {
  TLS1: 'TLSv1',
  TLS1_0: 'TLSv1',
  TLS1_1: 'TLSv1.1',
  TLS1_2: 'TLSv1.2',
  TLS1_3: 'TLSv1.3',
};

const TLS_ROW = /^TLS protocol SP_PROT_([A-Z0-9_]+?)_(?:SERVER|CLIENT) negotiation succeeded/;
const BULK_CIPHER = /bulk encryption algorithm (\S+)/;

/** The TLS version and cipher of a `TLS protocol SP_PROT_... negotiation succeeded` row. */
export function parseTlsRow(
  context: string,
): { tlsProtocol: TlsProtocol; cipher: string | null } | null {
  const match = TLS_ROW.exec(context);
  if (!match) return null;
  return {
    tlsProtocol: SCHANNEL_PROTOCOLS[match[1]] ?? 'unknown',
    cipher: BULK_CIPHER.exec(context)?.[1] ?? null,
  };
}

/** `Inbound AUTH LOGIN failed because of LogonDenied`: the reason, such as `LogonDenied`. */
export function parseAuthFailedRow(context: string): string | null {
  const match = /^Inbound (?:AUTH )?\S+ failed because of (.+)$/.exec(context);
  return match ? match[1] : null;
}

/** `User Name: someone@example.org`, logged with a failed AUTH. */
export function parseUserNameRow(context: string): string | null {
  return context.startsWith('User Name: ') ? context.slice(11) : null;
}

/** Returns the InternalId of a `250 2.6.0 <id> [InternalId=123, Hostname=...] Queued mail for delivery` reply. */
export function queuedInternalId(reply: Reply): string | null {
  return /\[InternalId=(\d+)/.exec(reply.text)?.[1] ?? null;
}

export function isQueuedForDelivery(reply: Reply): boolean {
  return reply.code === 250 && reply.text.includes('Queued mail for delivery');
}
