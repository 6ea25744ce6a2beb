import { ACCOUNT_SORTS } from '../queries/accounts.js';
import { DETAIL_COLUMNS } from '../queries/details.js';
import { TLS_ACCOUNT_SORTS } from '../queries/tls.js';
import { TLS_PROTOCOLS } from '../events.js';
import { SEVERITIES, SIGNAL_NAMES } from '../insights/signal.js';
import { FAILURE_PIVOTS } from '../queries/failures.js';
import { SESSION_COOKIE } from './auth.js';
import {
  DEFAULT_FAILURE_ROWS,
  DEFAULT_PAGE_SIZE,
  MAX_FAILURE_ROWS,
  MAX_PAGE_SIZE,
} from './params.js';

/** The OpenAPI 3.1 description of the HTTP API, served at /api/openapi.json. */

const integer = { type: 'integer', minimum: 0 } as const;
const string = { type: 'string' } as const;
const date = { type: 'string', format: 'date' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;
const tlsProtocol = { type: 'string', enum: [...TLS_PROTOCOLS] } as const;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const param = (name: string) => ({ $ref: `#/components/parameters/${name}` });

function object(properties: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'object',
    properties,
    required: Object.keys(properties),
    additionalProperties: false,
  };
}

function list(items: unknown): Record<string, unknown> {
  return { type: 'array', items };
}

function periodObject(properties: Record<string, unknown>): Record<string, unknown> {
  return object({ from: date, to: date, ...properties });
}

const FILTER_PARAMETERS = ['from', 'to', 'domain', 'server', 'search'].map(param);

const ERROR_RESPONSES = {
  '400': { $ref: '#/components/responses/InvalidOption' },
  '401': { $ref: '#/components/responses/Unauthorized' },
};

function jsonOperation(summary: string, schema: unknown, extra: Record<string, unknown> = {}) {
  return {
    get: {
      summary,
      parameters: FILTER_PARAMETERS,
      responses: {
        '200': { description: 'OK', content: { 'application/json': { schema } } },
        ...ERROR_RESPONSES,
      },
      ...extra,
    },
  };
}

const tlsCounts = object(Object.fromEntries(TLS_PROTOCOLS.map((p) => [p, integer])));
const tlsPercents = object(
  Object.fromEntries(TLS_PROTOCOLS.map((p) => [p, { type: 'number', minimum: 0, maximum: 100 }])),
);

const schemas = {
  Error: object({
    error: object({
      code: { type: 'string', examples: ['invalid-option', 'not-found', 'unauthorized'] },
      message: string,
      status: { type: 'integer' },
    }),
  }),
  TlsCounts: tlsCounts,
  Summary: periodObject({
    accounts: integer,
    messages: integer,
    recipients: integer,
    failures: integer,
    tls: ref('TlsCounts'),
    tlsLoggingOff: list(object({ server: string, messages: integer })),
  }),
  Domains: periodObject({ domains: list(object({ senderDomain: string, messages: integer })) }),
  Volume: periodObject({
    rows: list(object({ day: date, senderDomain: string, messages: integer, recipients: integer })),
  }),
  Tls: periodObject({
    byDay: list(object({ day: date, tlsProtocol, messages: integer })),
    total: { ...integer, description: 'Accounts in all pages of byAccount.' },
    byAccount: list(
      object({
        account: string,
        messages: integer,
        counts: ref('TlsCounts'),
        percents: tlsPercents,
        legacyPercent: { type: 'number', minimum: 0, maximum: 100 },
      }),
    ),
  }),
  Accounts: periodObject({
    total: integer,
    rows: list(
      object({
        account: string,
        messages: integer,
        recipients: integer,
        senderAddresses: list(string),
        clientIps: list(string),
        mechanisms: list(string),
        legacyTlsPercent: { type: 'number', minimum: 0, maximum: 100 },
        firstSeen: dateTime,
        lastSeen: dateTime,
      }),
    ),
  }),
  AccountDetail: object({
    account: string,
    from: date,
    to: date,
    messages: integer,
    recipients: integer,
    firstSeen: dateTime,
    lastSeen: dateTime,
    daily: list(object({ day: date, messages: integer, recipients: integer })),
    tls: ref('TlsCounts'),
    clientIps: list(
      object({ clientIp: string, messages: integer, firstSeen: dateTime, lastSeen: dateTime }),
    ),
    mechanisms: list(object({ saslMechanism: string, messages: integer })),
    senderAddresses: list(object({ senderAddress: string, messages: integer })),
    heloNames: { ...list(string), description: 'Empty for Postfix, which logs no HELO name.' },
    failures: list(
      object({
        day: date,
        attemptedUsername: { type: ['string', 'null'] },
        clientIp: string,
        failures: integer,
      }),
    ),
  }),
  Failures: periodObject({
    total: {
      ...integer,
      description: 'Number of groups in all; rows contains the largest `limit` of them.',
    },
    rows: list(
      object({
        day: date,
        attemptedUsername: { type: ['string', 'null'] },
        clientIp: string,
        saslMechanism: string,
        tlsProtocol,
        server: string,
        failures: integer,
      }),
    ),
  }),
  FailurePivot: periodObject({
    by: { type: 'string', enum: [...FAILURE_PIVOTS] },
    total: { ...integer, description: 'Groups in all; rows contains the first `limit`.' },
    rows: list(
      object({
        key: {
          type: ['string', 'null'],
          description: 'The day, the attempted username (null: not logged) or the client IP.',
        },
        failures: integer,
        usernames: { ...integer, description: 'Distinct attempted usernames.' },
        clientIps: integer,
        days: integer,
      }),
    ),
  }),
  ReviewNote: object({ note: string, reviewedAt: dateTime, reviewedThrough: nullableDateTime }),
  Signal: object({
    id: { ...string, description: 'signal|account|clientIp, the same across runs.' },
    signal: { type: 'string', enum: [...SIGNAL_NAMES] },
    severity: { type: 'string', enum: [...SEVERITIES] },
    account: { type: ['string', 'null'] },
    clientIp: { type: ['string', 'null'] },
    firstSeen: dateTime,
    lastSeen: dateTime,
    evidence: {
      type: 'object',
      description: 'The numbers behind the signal; see docs/insights.md.',
    },
    explanation: string,
    reviewed: { oneOf: [{ type: 'null' }, ref('ReviewNote')] },
    evidenceDays: { ...list(date), description: 'Report days the evidence falls on.' },
  }),
  Insights: periodObject({
    timeZone: string,
    open: integer,
    reviewed: { ...integer, description: 'Signals covered by a review mark.' },
    signals: list(ref('Signal')),
  }),
  ReviewRequest: {
    type: 'object',
    description: 'Give account or clientIp, not both.',
    properties: {
      account: string,
      clientIp: string,
      note: { type: 'string', minLength: 1, maxLength: 2000 },
      signal: { type: 'string', enum: [...SIGNAL_NAMES] },
      permanent: { type: 'boolean', default: false },
    },
    required: ['note'],
    additionalProperties: false,
  },
  ReviewMark: object({
    subjectKind: { type: 'string', enum: ['account', 'client-ip'] },
    subject: string,
    signal: { type: ['string', 'null'], enum: [...SIGNAL_NAMES, null] },
    note: string,
    reviewedAt: dateTime,
    reviewedThrough: nullableDateTime,
  }),
};

function sortParameter(sorts: readonly string[], description?: string) {
  return {
    name: 'sort',
    in: 'query',
    ...(description ? { description } : {}),
    schema: { type: 'string', enum: [...sorts], default: 'messages' },
  };
}

/** The order and page of a paged table; ties sort by account name. */
const PAGE_PARAMETERS = [
  {
    name: 'order',
    in: 'query',
    description: 'Default: asc when sorting by account, else desc.',
    schema: { type: 'string', enum: ['asc', 'desc'] },
  },
  {
    name: 'limit',
    in: 'query',
    schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
  },
  { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
];

const parameters = {
  from: {
    name: 'from',
    in: 'query',
    description: 'First day, inclusive, in the report time zone. Default: 6 days before `to`.',
    schema: date,
  },
  to: {
    name: 'to',
    in: 'query',
    description: 'Last day, inclusive. Default: the day of the newest event in the store.',
    schema: date,
  },
  domain: {
    name: 'domain',
    in: 'query',
    description: 'Only this sender domain (failed logins: the attempted username’s domain).',
    schema: string,
  },
  server: { name: 'server', in: 'query', description: 'Only this mail server.', schema: string },
  search: {
    name: 'search',
    in: 'query',
    description: 'Case-insensitive text in the account or sender address.',
    schema: string,
  },
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'smtp-auth-report API',
    version: '1',
    description:
      'SMTP AUTH submissions from mail-server logs: accounts, messages, TLS versions, client ' +
      'IPs and failed logins. Every API response has Cache-Control: no-store. Errors have the ' +
      'Error shape. Unknown query parameters are rejected with 400.',
  },
  security: [{ bearer: [] }, { session: [] }],
  paths: {
    '/healthz': {
      get: {
        summary: 'Health check; needs no token',
        security: [],
        responses: {
          '200': {
            description: 'OK',
            content: {
              'application/json': { schema: object({ status: { const: 'ok' } }) },
            },
          },
        },
      },
    },
    '/api/openapi.json': {
      get: {
        summary: 'This document',
        responses: { '200': { description: 'OpenAPI 3.1 document' }, ...ERROR_RESPONSES },
      },
    },
    '/api/summary': jsonOperation('Totals and TLS versions of the period', ref('Summary')),
    '/api/domains': jsonOperation(
      'Sender domains of the period; the domain parameter is ignored so that all are listed',
      ref('Domains'),
    ),
    '/api/volume': jsonOperation('Messages per day and sender domain', ref('Volume')),
    '/api/tls': {
      get: {
        ...jsonOperation(
          'Messages per TLS version per day, and one page of accounts with theirs',
          ref('Tls'),
        ).get,
        parameters: [
          ...FILTER_PARAMETERS,
          sortParameter(
            TLS_ACCOUNT_SORTS,
            'A TLS version sorts by its percent of the account’s messages, then by its count; ' +
              'legacyPercent by the percent over TLS 1.0, TLS 1.1 or no TLS.',
          ),
          ...PAGE_PARAMETERS,
        ],
      },
    },
    '/api/accounts': {
      get: {
        summary: 'One page of accounts with their senders, client IPs and mechanisms',
        parameters: [...FILTER_PARAMETERS, sortParameter(ACCOUNT_SORTS), ...PAGE_PARAMETERS],
        responses: {
          '200': {
            description: 'OK',
            content: { 'application/json': { schema: ref('Accounts') } },
          },
          ...ERROR_RESPONSES,
        },
      },
    },
    '/api/accounts/{account}': {
      get: {
        summary: 'One account: totals, days, TLS versions, client IPs, senders, failed logins',
        parameters: [
          {
            name: 'account',
            in: 'path',
            required: true,
            description: 'The SASL login, URL-encoded.',
            schema: string,
          },
          ...FILTER_PARAMETERS,
        ],
        responses: {
          '200': {
            description: 'OK',
            content: { 'application/json': { schema: ref('AccountDetail') } },
          },
          ...ERROR_RESPONSES,
          '404': { $ref: '#/components/responses/NotFound' },
        },
      },
    },
    '/api/failures': {
      get: {
        ...jsonOperation(
          'Failed logins per day, attempted username, client IP, mechanism, TLS version and server, largest groups first',
          ref('Failures'),
        ).get,
        parameters: [
          ...FILTER_PARAMETERS,
          {
            name: 'limit',
            in: 'query',
            schema: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_FAILURE_ROWS,
              default: DEFAULT_FAILURE_ROWS,
            },
          },
        ],
      },
    },
    '/api/failures/pivot': {
      get: {
        ...jsonOperation(
          'Failed logins per day, attempted username or client IP, with distinct usernames, ' +
            'client IPs and days; usernames and IPs most failures first',
          ref('FailurePivot'),
        ).get,
        parameters: [
          ...FILTER_PARAMETERS,
          {
            name: 'by',
            in: 'query',
            schema: { type: 'string', enum: [...FAILURE_PIVOTS], default: 'ip' },
          },
          {
            name: 'limit',
            in: 'query',
            schema: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_FAILURE_ROWS,
              default: DEFAULT_FAILURE_ROWS,
            },
          },
        ],
      },
    },
    '/api/insights': {
      get: {
        summary:
          'Signals of unusual activity per account in the period, most severe first; open ' +
          'ones only unless reviewed=include',
        parameters: [
          param('from'),
          param('to'),
          { name: 'minSeverity', in: 'query', schema: { type: 'string', enum: [...SEVERITIES] } },
          {
            name: 'reviewed',
            in: 'query',
            schema: { type: 'string', enum: ['include', 'exclude'], default: 'exclude' },
          },
        ],
        responses: {
          '200': {
            description: 'OK',
            content: { 'application/json': { schema: ref('Insights') } },
          },
          ...ERROR_RESPONSES,
          '501': { $ref: '#/components/responses/NeedsDuckDB' },
        },
      },
    },
    '/api/reviews': {
      post: {
        summary:
          'Mark an account or client address reviewed, as smtp-auth-report insights review does',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: ref('ReviewRequest') } },
        },
        responses: {
          '201': {
            description: 'The mark',
            content: { 'application/json': { schema: ref('ReviewMark') } },
          },
          ...ERROR_RESPONSES,
          '404': {
            description: 'No message or failed login of the account or address is in the store',
            content: { 'application/json': { schema: ref('Error') } },
          },
          '501': { $ref: '#/components/responses/NeedsDuckDB' },
        },
      },
    },
    '/api/export.csv': {
      get: {
        summary: 'The detailed download: one row per day and combination, streamed',
        parameters: FILTER_PARAMETERS,
        responses: {
          '200': {
            description:
              `CSV with the header ${DETAIL_COLUMNS.join(',')}. Cells that a spreadsheet ` +
              "would run as a formula (starting with = + - @) get a leading '.",
            headers: {
              'Content-Disposition': {
                schema: {
                  type: 'string',
                  examples: ['attachment; filename="smtp-auth-report-2026-11-28-2026-12-04.csv"'],
                },
              },
            },
            content: { 'text/csv': { schema: string } },
          },
          ...ERROR_RESPONSES,
        },
      },
    },
  },
  components: {
    schemas,
    parameters,
    responses: {
      InvalidOption: {
        description: 'A parameter is invalid; the message names it, shows the value and the fix',
        content: { 'application/json': { schema: ref('Error') } },
      },
      Unauthorized: {
        description: 'A token is configured and the request has neither the token nor the session',
        content: { 'application/json': { schema: ref('Error') } },
      },
      NotFound: {
        description: 'The account has no message in the period',
        content: { 'application/json': { schema: ref('Error') } },
      },
      NeedsDuckDB: {
        description:
          'The server reads a ClickHouse store, and insights and reviews need a DuckDB store',
        content: { 'application/json': { schema: ref('Error') } },
      },
    },
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer' },
      session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
    },
  },
} as const;
