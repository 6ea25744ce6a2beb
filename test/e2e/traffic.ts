/**
 * Scripted SMTP AUTH traffic for the Postfix end-to-end test, and the ground truth computed
 * from what was sent. postfix-harness.sh runs it with tsx:
 *
 *   traffic.ts passwd-file
 *     prints the Dovecot passwd-file for the accounts below.
 *   traffic.ts run --phase tls-logging|no-tls-logging --ports SUBMISSION,SMTPS,PLAIN
 *       --truth FILE --expectations FILE [--transcripts DIR]
 *     sends the phase's sessions and writes the truth JSON, plus "sessions messages deferred"
 *     counts that tell the harness when Postfix has logged everything.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { SmtpClient, type TlsProtocol } from './smtp-client.js';

type Service = 'submission' | 'smtps' | 'plain';
type Mechanism = 'PLAIN' | 'LOGIN';
type ReportedTls = TlsProtocol | 'none' | 'unknown';

interface Account {
  login: string;
  password: string;
}

type Step =
  | {
      kind: 'auth';
      mechanism: Mechanism;
      login: string;
      password: string;
      accepted: boolean;
      initialResponse: boolean;
    }
  | { kind: 'message'; sender: string; recipients: string[]; rejectedRecipients: string[] }
  | { kind: 'resetAfterRcpt'; sender: string; recipient: string }
  | { kind: 'relayAttempt'; sender: string; recipient: string };

interface Session {
  name: string;
  service: Service;
  tls: TlsProtocol | 'none';
  clientIp: string;
  steps: Step[];
}

interface AcceptedGroup {
  account: string;
  saslMechanism: string;
  senderAddress: string;
  tlsProtocol: ReportedTls;
  clientIp: string;
  messages: number;
  recipients: number;
}

interface FailureGroup {
  attemptedUsername: string;
  clientIp: string;
  tlsProtocol: ReportedTls;
  saslMechanism: string;
  failures: number;
}

export interface Truth {
  accepted: AcceptedGroup[];
  failures: FailureGroup[];
  totals: { messages: number; recipients: number; failures: number };
}

const accounts = {
  scanner: { login: 'scanner@example.com', password: 'Scanner-Pass-1' },
  alice: { login: 'alice@example.com', password: 'Alice-Pass-2' },
  alerts: { login: 'alerts@example.org', password: 'Alerts-Pass-3' },
  billing: { login: 'billing@example.net', password: 'Billing-Pass-4' },
  printer: { login: 'printer', password: 'Printer-Pass-5' },
} satisfies Record<string, Account>;

// postfix-harness.sh routes this domain to a transport listed in defer_transports, and
// flushes the queue after the first attempt. qmgr then logs the message's
// "from=... (queue active)" line twice, but it must count once.
const DEFERRED_DOMAIN = 'deferred.example.net';

// smtpd_recipient_restrictions in postfix-harness.sh rejects this recipient with 554.
const BLOCKED_RECIPIENT = 'blocked@example.net';

function auth(
  mechanism: Mechanism,
  account: Account,
  options: { login?: string; initialResponse?: boolean } = {},
): Step {
  return {
    kind: 'auth',
    mechanism,
    login: options.login ?? account.login,
    password: account.password,
    accepted: true,
    initialResponse: options.initialResponse ?? true,
  };
}

function failedAuth(mechanism: Mechanism, login: string, password: string): Step {
  return { kind: 'auth', mechanism, login, password, accepted: false, initialResponse: true };
}

function message(sender: string, ...recipients: string[]): Step {
  return { kind: 'message', sender, recipients, rejectedRecipients: [] };
}

/**
 * Phase one runs with smtpd_tls_loglevel = 1. Addresses: 127.0.0.11-14 never fail a login;
 * each client that fails one gets its own address (127.0.0.21-27), because Dovecot's auth
 * penalty would otherwise delay every later AUTH from that address by 2 to 15 s.
 */
const tlsLoggingSessions: Session[] = [
  {
    name: 'submission-tls13-plain',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.11',
    steps: [auth('PLAIN', accounts.scanner), message('scanner@example.com', 'ops@example.org')],
  },
  {
    name: 'submission-tls12-login',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.11',
    steps: [
      auth('LOGIN', accounts.scanner),
      message('noreply@example.com', 'ops@example.org', 'it@example.com'),
    ],
  },
  {
    name: 'submission-tls11-plain',
    service: 'submission',
    tls: 'TLSv1.1',
    clientIp: '127.0.0.12',
    steps: [auth('PLAIN', accounts.alerts), message('alerts@example.org', 'oncall@example.org')],
  },
  {
    name: 'submission-tls10-login',
    service: 'submission',
    tls: 'TLSv1',
    clientIp: '127.0.0.12',
    steps: [
      auth('LOGIN', accounts.alerts),
      message('monitoring@example.net', 'a@example.org', 'b@example.org', 'c@example.com'),
    ],
  },
  {
    name: 'smtps-tls13-plain',
    service: 'smtps',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.13',
    steps: [auth('PLAIN', accounts.alice), message('alice@example.com', 'friend@example.org')],
  },
  {
    name: 'smtps-tls12-sender-domain-differs',
    service: 'smtps',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.13',
    steps: [
      auth('LOGIN', accounts.alice),
      message('alice@example.org', 'x@example.net', 'y@example.net'),
    ],
  },
  {
    name: 'smtps-tls11-plain',
    service: 'smtps',
    tls: 'TLSv1.1',
    clientIp: '127.0.0.13',
    steps: [auth('PLAIN', accounts.billing), message('billing@example.net', 'ap@example.org')],
  },
  {
    name: 'smtps-tls10-login',
    service: 'smtps',
    tls: 'TLSv1',
    clientIp: '127.0.0.14',
    steps: [
      auth('LOGIN', accounts.billing),
      message('invoices@example.net', 'ap@example.org', 'ar@example.com'),
    ],
  },
  {
    name: 'plain-auth-plain',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.14',
    steps: [auth('PLAIN', accounts.printer), message('printer@example.com', 'scans@example.com')],
  },
  {
    name: 'plain-auth-login',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.14',
    steps: [auth('LOGIN', accounts.billing), message('billing@example.net', 'ap@example.org')],
  },
  {
    name: 'submission-three-messages',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.11',
    steps: [
      auth('LOGIN', accounts.scanner),
      message('scanner@example.com', 'ops@example.org'),
      message('scans@example.org', 'ops@example.org', 'it@example.com'),
      message('scanner@example.com', 'a@example.org', 'b@example.org', 'c@example.org'),
    ],
  },
  {
    name: 'smtps-two-messages-duplicate-rcpt',
    service: 'smtps',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.12',
    steps: [
      auth('PLAIN', accounts.alerts, { initialResponse: false }),
      message('alerts@example.org', 'oncall@example.org'),
      // cleanup(8) drops the repeated recipient, so nrcpt=2 for three RCPT commands.
      message('alerts@example.org', 'oncall@example.org', 'ops@example.org', 'oncall@example.org'),
    ],
  },
  {
    name: 'plain-rejected-rcpt-and-null-sender',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.13',
    steps: [
      auth('LOGIN', accounts.alice),
      {
        kind: 'message',
        sender: 'alice@example.com',
        recipients: ['dup@example.org', 'dup@example.org', 'other@example.org'],
        rejectedRecipients: [BLOCKED_RECIPIENT],
      },
      message('', 'postmaster@example.org'),
    ],
  },
  {
    name: 'submission-auth-only',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.12',
    steps: [auth('PLAIN', accounts.alerts)],
  },
  {
    name: 'smtps-rset-after-rcpt',
    service: 'smtps',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.14',
    steps: [
      auth('PLAIN', accounts.billing),
      { kind: 'resetAfterRcpt', sender: 'billing@example.net', recipient: 'ap@example.org' },
      message('billing@example.net', 'ap@example.org'),
    ],
  },
  {
    name: 'submission-mixed-case-login',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.11',
    steps: [
      auth('PLAIN', accounts.scanner, { login: 'Scanner@Example.COM' }),
      message('scanner@example.com', 'boss@example.org'),
    ],
  },
  {
    name: 'submission-deferred-then-delivered',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.12',
    steps: [
      auth('LOGIN', accounts.alerts),
      message('alerts@example.org', `report@${DEFERRED_DOMAIN}`, 'oncall@example.org'),
    ],
  },
  {
    name: 'submission-wrong-password',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.21',
    steps: [failedAuth('PLAIN', accounts.scanner.login, 'wrong-password')],
  },
  {
    name: 'submission-unknown-user',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.22',
    steps: [failedAuth('LOGIN', 'ghost@example.com', 'whatever')],
  },
  {
    name: 'plain-unknown-user-no-domain',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.23',
    steps: [failedAuth('LOGIN', 'admin', 'admin')],
  },
  {
    name: 'smtps-two-failures',
    service: 'smtps',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.24',
    steps: [
      failedAuth('LOGIN', 'ghost@example.com', 'guess-1'),
      failedAuth('LOGIN', 'nosuch@example.org', 'guess-2'),
    ],
  },
  {
    name: 'submission-failure-then-success',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.25',
    steps: [
      failedAuth('PLAIN', accounts.alice.login, 'not-the-password'),
      auth('PLAIN', accounts.alice),
      message('alice@example.com', 'friend@example.org'),
    ],
  },
  {
    name: 'smtps-mixed-case-failure',
    service: 'smtps',
    tls: 'TLSv1',
    clientIp: '127.0.0.26',
    steps: [failedAuth('PLAIN', 'Alerts@Example.ORG', 'wrong-password')],
  },
  {
    name: 'smtps-tls11-failure',
    service: 'smtps',
    tls: 'TLSv1.1',
    clientIp: '127.0.0.27',
    steps: [failedAuth('LOGIN', accounts.billing.login, 'wrong-password')],
  },
  {
    name: 'plain-unauthenticated-relay',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.30',
    steps: [{ kind: 'relayAttempt', sender: 'spoof@example.com', recipient: 'victim@example.net' }],
  },
];

/** Phase two runs with smtpd_tls_loglevel = 0, so the log has no TLS line at all. */
const noTlsLoggingSessions: Session[] = [
  {
    name: 'quiet-submission-tls13-two-messages',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.41',
    steps: [
      auth('PLAIN', accounts.scanner),
      message('scanner@example.com', 'ops@example.org'),
      message('scanner@example.com', 'ops@example.org', 'it@example.com'),
    ],
  },
  {
    name: 'quiet-smtps-tls10',
    service: 'smtps',
    tls: 'TLSv1',
    clientIp: '127.0.0.42',
    steps: [auth('LOGIN', accounts.alerts), message('alerts@example.org', 'oncall@example.org')],
  },
  {
    name: 'quiet-plain',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.43',
    steps: [auth('PLAIN', accounts.printer), message('printer@example.com', 'scans@example.com')],
  },
  {
    name: 'quiet-submission-wrong-password',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.44',
    steps: [failedAuth('LOGIN', accounts.alice.login, 'wrong-password')],
  },
  {
    name: 'quiet-plain-unknown-user',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.45',
    steps: [failedAuth('PLAIN', 'ghost@example.com', 'whatever')],
  },
];

const phases = {
  'tls-logging': { sessions: tlsLoggingSessions, tlsLogging: true },
  'no-tls-logging': { sessions: noTlsLoggingSessions, tlsLogging: false },
};

type PhaseName = keyof typeof phases;

interface Ports {
  submission: number;
  smtps: number;
  plain: number;
}

interface SentMessage {
  account: string;
  saslMechanism: string;
  senderAddress: string;
  tlsProtocol: ReportedTls;
  clientIp: string;
  recipients: number;
  deferred: boolean;
}

interface FailedLogin {
  attemptedUsername: string;
  clientIp: string;
  tlsProtocol: ReportedTls;
  saslMechanism: string;
}

class Ledger {
  readonly messages: SentMessage[] = [];
  readonly failedLogins: FailedLogin[] = [];
}

// Dovecot's auth_username_format = %Lu lower-cases the login before the passdb lookup, and
// Postfix logs the name Dovecot returns, for accepted and for failed logins alike.
function loggedUsername(login: string): string {
  return login.toLowerCase();
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

async function openSession(session: Session, ports: Ports): Promise<SmtpClient> {
  const helo = `client-${session.clientIp.split('.').at(-1)}.example.com`;
  const implicitTls = session.service === 'smtps' && session.tls !== 'none';
  const client = await SmtpClient.open({
    name: session.name,
    port: ports[session.service],
    clientIp: session.clientIp,
    implicitTls: implicitTls ? (session.tls as TlsProtocol) : undefined,
  });

  await client.expect(220, 'connect');
  await client.command(`EHLO ${helo}`, 250);

  if (session.service === 'submission' && session.tls !== 'none') {
    await client.startTls(session.tls);
    await client.command(`EHLO ${helo}`, 250);
  }

  const negotiated = client.tlsProtocol ?? 'none';
  if (negotiated !== session.tls) {
    throw new Error(`${session.name}: negotiated ${negotiated}, expected ${session.tls}`);
  }
  return client;
}

async function authenticate(client: SmtpClient, step: Extract<Step, { kind: 'auth' }>) {
  const code = step.accepted ? 235 : 535;

  if (step.mechanism === 'LOGIN') {
    await client.command('AUTH LOGIN', 334);
    await client.command(base64(step.login), 334, `<login ${step.login}>`);
    await client.command(base64(step.password), code, '<password>');
    return;
  }

  const response = base64(`\0${step.login}\0${step.password}`);
  const transcriptLine = `<PLAIN response for ${step.login}>`;
  if (step.initialResponse) {
    await client.command(`AUTH PLAIN ${response}`, code, `AUTH PLAIN ${transcriptLine}`);
  } else {
    await client.command('AUTH PLAIN', 334);
    await client.command(response, code, transcriptLine);
  }
}

async function sendMessage(
  client: SmtpClient,
  session: Session,
  step: Extract<Step, { kind: 'message' }>,
  index: number,
): Promise<void> {
  await client.command(`MAIL FROM:<${step.sender}>`, 250);
  for (const recipient of step.recipients) {
    await client.command(`RCPT TO:<${recipient}>`, 250);
  }
  // After the first accepted RCPT the queue file exists, so smtpd logs this reject with the
  // message's queue ID ("QUEUEID: reject: RCPT from ...") rather than with NOQUEUE.
  for (const recipient of step.rejectedRecipients) {
    await client.command(`RCPT TO:<${recipient}>`, 554);
  }
  await client.command('DATA', 354);
  await client.sendData([
    `From: <${step.sender}>`,
    `To: <${step.recipients[0]}>`,
    `Subject: ${session.name} message ${index}`,
    `Message-ID: <${session.name}.${index}@e2e.example.com>`,
    '',
    `Message ${index} of session ${session.name}.`,
  ]);
}

async function runSteps(
  client: SmtpClient,
  session: Session,
  tlsLogging: boolean,
  ledger: Ledger,
): Promise<void> {
  const tlsProtocol: ReportedTls = tlsLogging ? session.tls : 'unknown';
  let login: { account: string; saslMechanism: Mechanism } | undefined;
  let messageIndex = 0;

  for (const step of session.steps) {
    switch (step.kind) {
      case 'auth':
        await authenticate(client, step);
        if (step.accepted) {
          login = { account: loggedUsername(step.login), saslMechanism: step.mechanism };
        } else {
          ledger.failedLogins.push({
            attemptedUsername: loggedUsername(step.login),
            clientIp: session.clientIp,
            tlsProtocol,
            saslMechanism: step.mechanism,
          });
        }
        break;

      case 'message':
        if (!login) {
          throw new Error(`${session.name}: the plan sends a message before a successful AUTH`);
        }
        messageIndex += 1;
        await sendMessage(client, session, step, messageIndex);
        ledger.messages.push({
          ...login,
          senderAddress: step.sender,
          tlsProtocol,
          clientIp: session.clientIp,
          recipients: new Set(step.recipients).size,
          deferred: step.recipients.some((recipient) => recipient.endsWith(`@${DEFERRED_DOMAIN}`)),
        });
        break;

      case 'resetAfterRcpt':
        // smtpd logs "client=... sasl_username=..." at the first accepted RCPT, so this
        // transaction leaves a client= line although no message is queued.
        await client.command(`MAIL FROM:<${step.sender}>`, 250);
        await client.command(`RCPT TO:<${step.recipient}>`, 250);
        await client.command('RSET', 250);
        break;

      case 'relayAttempt':
        await client.command(`MAIL FROM:<${step.sender}>`, 250);
        await client.command(`RCPT TO:<${step.recipient}>`, 554);
        break;
    }
  }

  await client.quit();
}

function groupKey(values: unknown[]): string {
  return JSON.stringify(values);
}

function compareKeys(a: string, b: string): number {
  if (a < b) {
    return -1;
  }
  return a > b ? 1 : 0;
}

/** Groups what was sent the way the report's details and failures views count it. */
function buildTruth(ledger: Ledger): Truth {
  const accepted = new Map<string, AcceptedGroup>();
  for (const sent of ledger.messages) {
    const { account, saslMechanism, senderAddress, tlsProtocol, clientIp } = sent;
    const key = groupKey([account, saslMechanism, senderAddress, tlsProtocol, clientIp]);
    const group = accepted.get(key) ?? {
      account,
      saslMechanism,
      senderAddress,
      tlsProtocol,
      clientIp,
      messages: 0,
      recipients: 0,
    };
    group.messages += 1;
    group.recipients += sent.recipients;
    accepted.set(key, group);
  }

  const failures = new Map<string, FailureGroup>();
  for (const failed of ledger.failedLogins) {
    const key = groupKey([
      failed.attemptedUsername,
      failed.clientIp,
      failed.tlsProtocol,
      failed.saslMechanism,
    ]);
    const group = failures.get(key) ?? { ...failed, failures: 0 };
    group.failures += 1;
    failures.set(key, group);
  }

  const sortedValues = <T>(groups: Map<string, T>): T[] =>
    [...groups.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, group]) => group);

  return {
    accepted: sortedValues(accepted),
    failures: sortedValues(failures),
    totals: {
      messages: ledger.messages.length,
      recipients: ledger.messages.reduce((sum, sent) => sum + sent.recipients, 0),
      failures: ledger.failedLogins.length,
    },
  };
}

function parsePorts(text: string): Ports {
  const numbers = text.split(',').map(Number);
  if (numbers.length !== 3 || numbers.some((port) => !Number.isInteger(port) || port <= 0)) {
    throw new Error(`invalid --ports "${text}": expected SUBMISSION,SMTPS,PLAIN port numbers`);
  }
  const [submission, smtps, plain] = numbers;
  return { submission, smtps, plain };
}

function printPasswdFile(): void {
  // The passdb reads these passwords as plain text (scheme=PLAIN). The accounts exist only
  // for this run.
  const lines = Object.values(accounts).map((account) => `${account.login}:${account.password}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function runPhase(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      phase: { type: 'string' },
      ports: { type: 'string' },
      truth: { type: 'string' },
      expectations: { type: 'string' },
      transcripts: { type: 'string' },
    },
  });
  const phaseName = values.phase as PhaseName;
  if (!(phaseName in phases)) {
    throw new Error(
      `invalid --phase "${values.phase}": expected ${Object.keys(phases).join(' or ')}`,
    );
  }
  if (!values.ports || !values.truth || !values.expectations) {
    throw new Error('missing option: run needs --ports, --truth and --expectations');
  }
  const ports = parsePorts(values.ports);
  const phase = phases[phaseName];
  const ledger = new Ledger();

  for (const session of phase.sessions) {
    const client = await openSession(session, ports);
    try {
      await runSteps(client, session, phase.tlsLogging, ledger);
    } finally {
      client.destroy();
      if (values.transcripts) {
        mkdirSync(values.transcripts, { recursive: true });
        const file = path.join(values.transcripts, `${session.name}.txt`);
        writeFileSync(file, `${client.transcript.join('\n')}\n`);
      }
    }
  }

  const truth = buildTruth(ledger);
  writeFileSync(values.truth, `${JSON.stringify(truth, null, 2)}\n`);

  const deferred = ledger.messages.filter((sent) => sent.deferred).length;
  const counts = [phase.sessions.length, truth.totals.messages, deferred];
  writeFileSync(values.expectations, `${counts.join(' ')}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'passwd-file') {
    printPasswdFile();
  } else if (command === 'run') {
    await runPhase(rest);
  } else {
    throw new Error(`unknown command "${command ?? ''}": expected passwd-file or run`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`traffic: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
