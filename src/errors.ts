/**
 * The catalogue of errors that reach a user, each with a stable code, a message template and
 * an HTTP status. docs/errors.md gives each code its cause and fix.
 */
export const ERRORS = {
  SOURCE_NOT_FOUND: {
    status: 404,
    message: 'cannot read {path}: {detail}',
  },
  SOURCE_READ_FAILED: {
    status: 500,
    message: 'reading {path} failed after {offset} bytes: {detail}; the lines before were stored',
  },
  JOURNAL_FAILED: {
    status: 500,
    message:
      'journalctl failed: {detail}; check that journalctl runs for this user (members of the adm or systemd-journal group may read the system journal)',
  },
  INVALID_OPTION: {
    status: 400,
    message: 'invalid value {value} for {option}: {detail}',
  },
  INVALID_STORE_URL: {
    status: 400,
    message: 'invalid store URL {value}: {detail}',
  },
  STORE_KIND_UNSUPPORTED: {
    status: 400,
    message: 'store kind {kind} is not supported by this command; use a duckdb:PATH store',
  },
  STORE_LOCKED: {
    status: 409,
    message:
      'the store {path} is held by another process ({detail}); stop it, or query it through the server that holds it',
  },
  STORE_FAILED: {
    status: 500,
    message: 'the store {path} failed: {detail}',
  },
  NOT_FOUND: {
    status: 404,
    message: '{what} {value} not found',
  },
  INVALID_REQUEST: {
    status: 400,
    message: '{detail}',
  },
  INTERNAL_ERROR: {
    status: 500,
    message: 'internal server error; the server log has the details',
  },
  UNAUTHORIZED: {
    status: 401,
    message: 'missing or invalid access token; send Authorization: Bearer TOKEN',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error a user can act on: the message names the value and the fix. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, string | number>;

  constructor(code: ErrorCode, details: Record<string, string | number>, options?: ErrorOptions) {
    super(formatMessage(ERRORS[code].message, details), options);
    this.name = 'AppError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }

  /** The HTTP error body every API error uses. */
  toJSON(): { error: { code: string; message: string; status: number } } {
    return { error: { code: kebab(this.code), message: this.message, status: this.status } };
  }
}

function formatMessage(template: string, details: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) =>
    key in details ? String(details[key]) : `{${key}}`,
  );
}

function kebab(code: string): string {
  return code.toLowerCase().replace(/_/g, '-');
}

/** Shorthand for a bad command-line or query value. */
export function invalidOption(option: string, value: unknown, detail: string): AppError {
  return new AppError('INVALID_OPTION', { option, value: JSON.stringify(value), detail });
}
