/**
 * Events that correlators emit and the store keeps. Field names follow the MTA's own
 * terms (saslMethod, clientIp, tlsProtocol) so that a row can be traced back to its log
 * lines.
 */

/** TLS versions as the report names them. `TLSv1` is TLS 1.0, as OpenSSL and Postfix write it. */
export const TLS_PROTOCOLS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3', 'none', 'unknown'] as const;
export type TlsProtocol = (typeof TLS_PROTOCOLS)[number];

/**
 * How the TLS state of a session is known.
 * - `line`: the MTA logged the TLS handshake with its version.
 * - `starttls`: the session used STARTTLS (Postfix 3.x disconnect counters) but the version
 *   was not logged.
 * - `no-line`: the whole session was seen and it has no TLS line. That is "no TLS" only
 *   when the log shows that TLS logging is on.
 * - `not-seen`: the session began before the log starts.
 */
export type TlsEvidence = 'line' | 'starttls' | 'no-line' | 'not-seen';

/** One message accepted into the queue after a successful SMTP AUTH. */
export interface SubmittedMessage {
  kind: 'message';
  /** Milliseconds since the epoch, UTC. */
  time: number;
  server: string;
  /** The syslog name of the service, such as `postfix/submission/smtpd`. */
  service: string;
  queueId: string;
  /** The authenticated login as logged (`sasl_username`). */
  account: string;
  /** The mechanism as logged. */
  saslMethod: string;
  /**
   * The standard mechanism name when the log names something else (Exim logs the
   * authenticator, such as `plain_server`); otherwise derived from `saslMethod`.
   */
  saslMechanism?: string;
  /** Envelope sender; empty for the null sender `<>`. */
  senderAddress: string;
  clientIp: string;
  clientName: string;
  helo: string | null;
  tlsProtocol: TlsProtocol;
  tlsEvidence: TlsEvidence;
  tlsCipher: string | null;
  /** Unique recipients (Postfix `nrcpt`). */
  recipients: number;
  size: number;
}

/** One failed SMTP AUTH attempt. */
export interface AuthFailure {
  kind: 'failure';
  time: number;
  server: string;
  service: string;
  /** The username the client tried, where the log has it. */
  attemptedUsername: string | null;
  saslMethod: string;
  /** As on SubmittedMessage. */
  saslMechanism?: string;
  clientIp: string;
  clientName: string;
  tlsProtocol: TlsProtocol;
  tlsEvidence: TlsEvidence;
  /** The reason the MTA logged, such as `authentication failure` or a base64 challenge. */
  reason: string;
}

export type ReportEvent = SubmittedMessage | AuthFailure;

/** Upper-case standard SASL mechanism name (RFC 4422 registry spelling). */
export function normaliseMechanism(raw: string): string {
  return raw.trim().toUpperCase();
}

/**
 * Return the SASL mechanism of an event: the one its reader mapped (Exim logs the
 * authenticator's configured name), else its logged method in standard spelling.
 */
export function saslMechanismOf(event: { saslMethod: string; saslMechanism?: string }): string {
  return event.saslMechanism ?? normaliseMechanism(event.saslMethod);
}

/** Lower-case domain of an envelope sender; empty when it has none. */
export function senderDomainOf(senderAddress: string): string {
  const at = senderAddress.lastIndexOf('@');
  return at < 0 ? '' : senderAddress.slice(at + 1).toLowerCase();
}
