import { AppError, invalidOption } from '../errors.js';
import type { Row, StoreQuery } from '../store/duckdb/store.js';
import { isoTime, SIGNAL_NAMES, type Signal, type SignalName } from './signal.js';

export const SUBJECT_KINDS = ['account', 'client-ip'] as const;
export type SubjectKind = (typeof SUBJECT_KINDS)[number];

/** Notes longer than this are rejected: a note is a sentence or two, not a report. */
export const MAX_NOTE_LENGTH = 2000;

/** A review mark as stored in `insight_reviews`. */
export interface ReviewMark {
  subjectKind: SubjectKind;
  /** The account (as logged) or the client address. */
  subject: string;
  /** The one signal it covers; null for every signal about the subject. */
  signal: SignalName | null;
  note: string;
  reviewedAt: string;
  reviewedThrough: string | null;
}

export interface ReviewRequest {
  subjectKind: SubjectKind;
  subject: string;
  signal?: SignalName | null;
  note: string;
  /** Cover all activity, later activity included; by default up to the newest event stored. */
  permanent?: boolean;
}

/**
 * Mark an account or client address as reviewed. The mark covers its activity up to the
 * newest event in the store, so that activity after the review opens its signals again.
 */
export async function addReview(query: StoreQuery, request: ReviewRequest): Promise<ReviewMark> {
  const subject = request.subject.trim();
  const note = request.note.trim();
  if (subject === '') throw invalidOption(request.subjectKind, request.subject, 'it is empty');
  if (note === '') throw invalidOption('--note', request.note, 'write what was checked');
  if (characterCount(note) > MAX_NOTE_LENGTH) {
    throw invalidOption('--note', `${note.slice(0, 40)}...`, `longer than ${MAX_NOTE_LENGTH}`);
  }
  const signal = request.signal ?? null;
  if (signal !== null && !SIGNAL_NAMES.includes(signal)) {
    throw invalidOption('--signal', signal, `expected one of ${SIGNAL_NAMES.join(', ')}`);
  }

  if (!(await subjectHasEvents(query, request.subjectKind, subject))) {
    throw unknownSubject(request.subjectKind, subject);
  }

  const reviewedAt = Date.now();
  const through = request.permanent ? null : ((await newestEventMs(query)) ?? reviewedAt);
  await query(
    `INSERT INTO insight_reviews VALUES ($1, $2, $3, $4, to_timestamp($5::DOUBLE / 1000),
       to_timestamp($6::DOUBLE / 1000))`,
    [request.subjectKind, subject, signal, note, reviewedAt, through],
  );
  return {
    subjectKind: request.subjectKind,
    subject,
    signal,
    note,
    reviewedAt: isoTime(reviewedAt),
    reviewedThrough: through === null ? null : isoTime(through),
  };
}

/** The newest mark per subject and signal. */
export async function listReviews(query: StoreQuery): Promise<ReviewMark[]> {
  const rows = await query(
    `SELECT subject_kind, subject, signal, note, epoch_ms(reviewed_at) AS reviewed_ms,
            epoch_ms(reviewed_through) AS through_ms
     FROM insight_reviews
     QUALIFY row_number() OVER (
       PARTITION BY subject_kind, subject, coalesce(signal, '') ORDER BY reviewed_at DESC) = 1
     ORDER BY reviewed_at DESC`,
  );
  return rows.map(toMark);
}

function toMark(row: Row): ReviewMark {
  return {
    subjectKind: String(row.subject_kind) as SubjectKind,
    subject: String(row.subject),
    signal: row.signal === null ? null : (String(row.signal) as SignalName),
    note: String(row.note),
    reviewedAt: isoTime(Number(row.reviewed_ms)),
    reviewedThrough: row.through_ms === null ? null : isoTime(Number(row.through_ms)),
  };
}

/** Attach to each signal the newest mark that covers it; the others stay open. */
export function applyReviews(signals: Signal[], marks: ReviewMark[]): Signal[] {
  return signals.map((signal) => {
    const covering = marks
      .filter((mark) => covers(mark, signal))
      .sort((a, b) => b.reviewedAt.localeCompare(a.reviewedAt))[0];
    if (!covering) return signal;

    const { note, reviewedAt, reviewedThrough } = covering;
    return { ...signal, reviewed: { note, reviewedAt, reviewedThrough } };
  });
}

function covers(mark: ReviewMark, signal: Signal): boolean {
  const subject = mark.subjectKind === 'account' ? signal.account : signal.clientIp;
  if (subject !== mark.subject) return false;
  if (mark.signal !== null && mark.signal !== signal.signal) return false;
  return mark.reviewedThrough === null || signal.lastSeen <= mark.reviewedThrough;
}

/**
 * Check that the store contains a message or a failed login of the subject. A review of a name that
 * is in no event is a typing mistake: its mark would cover nothing and stay unnoticed. Failed
 * logins count because `username-many-ips` is about attempted usernames, compared without case.
 */
export async function subjectHasEvents(
  query: StoreQuery,
  kind: SubjectKind,
  subject: string,
): Promise<boolean> {
  const sql =
    kind === 'account'
      ? `SELECT EXISTS (SELECT 1 FROM submitted_messages WHERE account = $1)
           OR EXISTS (SELECT 1 FROM auth_failures WHERE lower(attempted_username) = lower($1))
           AS found`
      : `SELECT EXISTS (SELECT 1 FROM submitted_messages WHERE client_ip = $1)
           OR EXISTS (SELECT 1 FROM auth_failures WHERE client_ip = $1) AS found`;
  const rows = await query(sql, [subject]);
  return rows[0]?.found === true;
}

function unknownSubject(kind: SubjectKind, subject: string): AppError {
  const what = kind === 'account' ? 'account' : 'client IP';
  return new AppError('NOT_FOUND', {
    what,
    value: `${JSON.stringify(subject)} with messages or failed logins in the store`,
  });
}

async function newestEventMs(query: StoreQuery): Promise<number | null> {
  const rows = await query(`
    SELECT epoch_ms(max(ts)) AS newest FROM (
      SELECT max(ts) AS ts FROM submitted_messages
      UNION ALL SELECT max(ts) FROM auth_failures)`);
  const newest = rows[0]?.newest;
  return newest === null || newest === undefined ? null : Number(newest);
}

/** Count characters as a person does: an emoji is one, not the two UTF-16 units of `length`. */
export function characterCount(text: string): number {
  return Array.from(text).length;
}
