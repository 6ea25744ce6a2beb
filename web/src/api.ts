/** Types and fetch helpers for the report's HTTP API under /api. */

/** TLS versions as the report names them. `TLSv1` is TLS 1.0, as OpenSSL and Postfix write it. */
export const TLS_PROTOCOLS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3', 'none', 'unknown'] as const;
export type TlsProtocol = (typeof TLS_PROTOCOLS)[number];

/** Versions that stop working when TLS 1.0 and 1.1 are switched off, plus no TLS at all. */
export const LEGACY_TLS: readonly TlsProtocol[] = ['TLSv1', 'TLSv1.1', 'none'];

export const TLS_LABELS: Record<TlsProtocol, string> = {
  TLSv1: 'TLS 1.0',
  'TLSv1.1': 'TLS 1.1',
  'TLSv1.2': 'TLS 1.2',
  'TLSv1.3': 'TLS 1.3',
  none: 'No TLS',
  unknown: 'Unknown',
};

export type TlsCounts = Record<TlsProtocol, number>;

/** Filters every report endpoint takes. Dates are inclusive, in the server's report time zone. */
export interface ReportQuery {
  from?: string;
  to?: string;
  domain?: string;
  search?: string;
}

export interface Period {
  from: string;
  to: string;
}

export interface Summary extends Period {
  accounts: number;
  messages: number;
  recipients: number;
  failures: number;
  tls: TlsCounts;
  /** Servers whose log has no TLS lines, so the TLS version of their messages is unknown. */
  tlsLoggingOff: { server: string; messages: number }[];
}

export interface DomainList extends Period {
  domains: { senderDomain: string; messages: number }[];
}

export interface VolumeRow {
  day: string;
  senderDomain: string;
  messages: number;
  recipients: number;
}

export interface Volume extends Period {
  rows: VolumeRow[];
}

export interface TlsDayRow {
  day: string;
  tlsProtocol: TlsProtocol;
  messages: number;
}

export interface TlsAccountRow {
  account: string;
  messages: number;
  counts: TlsCounts;
  percents: TlsCounts;
  /** Percent of messages over TLS 1.0, TLS 1.1 or no TLS. */
  legacyPercent: number;
}

export interface TlsUsage extends Period {
  byDay: TlsDayRow[];
  /** Accounts in all pages of byAccount. */
  total: number;
  /** One page of accounts, sorted and paged by the server like the accounts table. */
  byAccount: TlsAccountRow[];
}

export interface AccountRow {
  account: string;
  messages: number;
  recipients: number;
  senderAddresses: string[];
  clientIps: string[];
  mechanisms: string[];
  legacyTlsPercent: number;
  firstSeen: string;
  lastSeen: string;
}

export interface AccountPage extends Period {
  total: number;
  rows: AccountRow[];
}

export interface FailureRow {
  day: string;
  /** Null when the log line does not name the username. */
  attemptedUsername: string | null;
  clientIp: string;
  saslMechanism: string;
  tlsProtocol: TlsProtocol;
  server: string;
  failures: number;
}

export interface Failures extends Period {
  rows: FailureRow[];
}

export interface AccountDetail extends Period {
  account: string;
  messages: number;
  recipients: number;
  firstSeen: string;
  lastSeen: string;
  daily: { day: string; messages: number; recipients: number }[];
  tls: TlsCounts;
  clientIps: { clientIp: string; messages: number; firstSeen: string; lastSeen: string }[];
  mechanisms: { saslMechanism: string; messages: number }[];
  senderAddresses: { senderAddress: string; messages: number }[];
  heloNames: string[];
  failures: { day: string; attemptedUsername: string | null; clientIp: string; failures: number }[];
}

/** An error response from the API, or a request that failed before any response. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Builds a query string from the defined, non-empty values. */
export function queryString(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export function exportUrl(query: ReportQuery): string {
  return `/api/export.csv${queryString({ ...query })}`;
}

export function accountPath(account: string): string {
  return `/api/accounts/${encodeURIComponent(account)}`;
}

/** Fetches a JSON response, turning the API's error shape into an ApiError. */
export async function fetchJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(url, {
    signal,
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
  });

  if (response.ok) return (await response.json()) as T;
  throw await errorOf(response);
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = 'http-error';
  let message = `The server returned HTTP ${response.status} for ${response.url}.`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.message) message = body.error.message;
    if (body.error?.code) code = body.error.code;
  } catch {
    // A proxy error page is not JSON; the status line is all there is to show.
  }
  if (response.status === 401) {
    message = 'Your session has ended. Reload the page to log in again.';
  }
  return new ApiError(message, response.status, code);
}

/** The grouping of the failed-logins pivot. */
export type FailurePivotKey = 'day' | 'username' | 'ip';

export interface FailurePivotRow {
  /** The day, the attempted username (null where the log names none) or the client IP. */
  key: string | null;
  failures: number;
  usernames: number;
  clientIps: number;
  days: number;
}

export interface FailurePivot extends Period {
  by: FailurePivotKey;
  total: number;
  rows: FailurePivotRow[];
}

export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface ReviewNote {
  note: string;
  reviewedAt: string;
  /** Activity up to this instant was reviewed; null covers later activity too. */
  reviewedThrough: string | null;
}

/** A signal of unusual activity, as `smtp-auth-report insights --format json` prints it. */
export interface InsightSignal {
  id: string;
  signal: string;
  severity: Severity;
  /** Null for a client address alone (password spraying). */
  account: string | null;
  clientIp: string | null;
  firstSeen: string;
  lastSeen: string;
  evidence: Record<string, unknown>;
  explanation: string;
  reviewed: ReviewNote | null;
  /** Report days (in the server's zone) that the evidence falls on. */
  evidenceDays: string[];
}

export interface Insights extends Period {
  timeZone: string;
  open: number;
  reviewed: number;
  signals: InsightSignal[];
}

export interface ReviewRequest {
  account?: string;
  clientIp?: string;
  signal?: string;
  note: string;
}

/** Sends a JSON body with POST, turning the API's error shape into an ApiError. */
export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });

  if (response.ok) return (await response.json()) as T;
  throw await errorOf(response);
}
