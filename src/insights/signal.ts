/** Signals of unusual activity: names, severities and the shape every signal family returns. */

/** Severities from least to most urgent; `--fail-on` and `--min-severity` compare by this order. */
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const SIGNAL_NAMES = [
  'volume-spike',
  'new-client-ip',
  'many-client-ips',
  'foreign-sender',
  'auth-without-tls',
  'legacy-tls',
  'login-after-failures',
  'password-spraying',
  'username-many-ips',
  'unusual-hour',
] as const;
export type SignalName = (typeof SIGNAL_NAMES)[number];

/** JSON-compatible evidence: the numbers behind a signal. */
export type Evidence = { [key: string]: EvidenceValue };
export type EvidenceValue =
  string | number | boolean | null | EvidenceValue[] | { [key: string]: EvidenceValue };

/** A review mark that covers a signal: who looked at it is not recorded, only when and why. */
export interface ReviewNote {
  note: string;
  reviewedAt: string;
  /**
   * Activity up to this instant was reviewed, so a signal with later activity is open again.
   * Null when the mark covers all activity, now and later.
   */
  reviewedThrough: string | null;
}

/** One signal about an account (or a client address alone), with its evidence. */
export interface Signal {
  /** Stable across runs for the same signal, account and client address. */
  id: string;
  signal: SignalName;
  severity: Severity;
  /** The login, or the attempted username for failed-login signals; null for an address alone. */
  account: string | null;
  clientIp: string | null;
  /** ISO 8601 UTC instants of the first and last log line behind the evidence. */
  firstSeen: string;
  lastSeen: string;
  evidence: Evidence;
  explanation: string;
  /** The review mark covering it; null while the signal is open. */
  reviewed: ReviewNote | null;
}

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export function maxSeverity(severities: Severity[]): Severity {
  return severities.reduce((max, s) => (severityRank(s) > severityRank(max) ? s : max), 'low');
}

/** Build a signal, keys in a fixed order; its id joins the name, account and client address. */
export function makeSignal(fields: Omit<Signal, 'id' | 'reviewed'>): Signal {
  return {
    id: [fields.signal, fields.account ?? '', fields.clientIp ?? ''].join('|'),
    signal: fields.signal,
    severity: fields.severity,
    account: fields.account,
    clientIp: fields.clientIp,
    firstSeen: fields.firstSeen,
    lastSeen: fields.lastSeen,
    evidence: fields.evidence,
    explanation: fields.explanation,
    reviewed: null,
  };
}

/** Format epoch milliseconds as ISO 8601 in UTC, as every signal reports its time range. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Order signals for a reader: most severe first, then most recent, then by name and account. */
export function rankSignals(signals: Signal[]): Signal[] {
  return [...signals].sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      b.lastSeen.localeCompare(a.lastSeen) ||
      a.signal.localeCompare(b.signal) ||
      (a.account ?? '').localeCompare(b.account ?? '') ||
      (a.clientIp ?? '').localeCompare(b.clientIp ?? ''),
  );
}

/** Made once: creating a formatter per call costs more than the rest of a signal. */
const COUNT_FORMAT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Format a count with thousands separators, as explanations show numbers. */
export function formatCount(value: number): string {
  return COUNT_FORMAT.format(Math.round(value));
}

/** "1 message", "3 messages", "2 addresses". */
export function plural(value: number, noun: string): string {
  if (value === 1) return `${formatCount(value)} ${noun}`;
  return `${formatCount(value)} ${noun}${/(s|x|ch|sh)$/.test(noun) ? 'es' : 's'}`;
}
