/**
 * Scripted SMTP AUTH traffic for the Sendmail end-to-end test, and the ground truth computed
 * from what was sent. sendmail-harness.sh runs it with tsx:
 *
 *   sendmail-traffic.ts sasldb-users
 *     prints "login<TAB>password" for each account, for saslpasswd2.
 *   sendmail-traffic.ts run --ports SUBMISSION,SMTPS,PLAIN --truth FILE --expectations FILE
 *       [--transcripts DIR]
 *     sends the sessions below and writes the truth JSON, plus "messages failures" counts
 *     that tell the harness when Sendmail has logged everything.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { SmtpClient, type TlsProtocol } from './smtp-client.js';
import type { Truth } from './traffic.js';

type Service = 'submission' | 'smtps' | 'plain';
type Mechanism = 'PLAIN' | 'LOGIN';

interface Account {
  login: string;
  password: string;
}

type Step =
  | { kind: 'auth'; mechanism: Mechanism; login: string; password: string; accepted: boolean }
  | { kind: 'starttls' }
  | { kind: 'message'; sender: string; recipients: string[] }
  | { kind: 'resetAfterRcpt'; sender: string; recipient: string }
  | { kind: 'relayAttempt'; sender: string; recipient: string };

interface Session {
  name: string;
  service: Service;
  /** The TLS version the client negotiates; `none` for a session that never starts TLS. */
  tls: TlsProtocol | 'none';
  clientIp: string;
  steps: Step[];
}

type AcceptedGroup = Truth['accepted'][number];
type FailureGroup = Truth['failures'][number];

const accounts = {
  scanner: { login: 'scanner@example.com', password: 'Scanner-Pass-1' },
  alice: { login: 'alice@example.com', password: 'Alice-Pass-2' },
  alerts: { login: 'alerts@example.org', password: 'Alerts-Pass-3' },
  billing: { login: 'billing@example.net', password: 'Billing-Pass-4' },
  printer: { login: 'printer', password: 'Printer-Pass-5' },
} satisfies Record<string, Account>;

function auth(mechanism: Mechanism, account: Account): Step {
  return { kind: 'auth', mechanism, ...account, accepted: true };
}

function failedAuth(mechanism: Mechanism, login: string, password: string): Step {
  return { kind: 'auth', mechanism, login, password, accepted: false };
}

function message(sender: string, ...recipients: string[]): Step {
  return { kind: 'message', sender, recipients };
}

/**
 * The sessions, in order. Sessions with TLS come first, so the log shows STARTTLS=server
 * lines before the first session without TLS, and that session reads as `none`. Addresses:
 * 127.0.0.11-14 never fail a login, and each client that fails one has its own address.
 */
const sessions: Session[] = [
  {
    name: 'submission-tls13-plain',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.11',
    steps: [auth('PLAIN', accounts.scanner), message('scanner@example.com', 'ops@example.org')],
  },
  {
    name: 'submission-tls12-login-duplicate-rcpt',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.11',
    steps: [
      auth('LOGIN', accounts.scanner),
      // Sendmail drops the repeated recipient: nrcpts=2 for three RCPT commands.
      message('noreply@example.com', 'ops@example.org', 'it@example.com', 'ops@example.org'),
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
    name: 'smtps-tls13-login',
    service: 'smtps',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.13',
    steps: [auth('LOGIN', accounts.alice), message('alice@example.com', 'friend@example.org')],
  },
  {
    name: 'smtps-tls12-sender-domain-differs',
    service: 'smtps',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.13',
    steps: [
      auth('PLAIN', accounts.alice),
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
    name: 'submission-auth-before-starttls',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.14',
    // Sendmail keeps the login across STARTTLS and logs AUTH=server before STARTTLS=server.
    steps: [
      auth('PLAIN', accounts.billing),
      { kind: 'starttls' },
      message('billing@example.net', 'ap@example.org', 'ar@example.com'),
    ],
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
    name: 'smtps-rset-after-rcpt-and-null-sender',
    service: 'smtps',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.14',
    steps: [
      auth('PLAIN', accounts.billing),
      // RSET makes Sendmail log a from= line with nrcpts=1 but no msgid=: no message.
      { kind: 'resetAfterRcpt', sender: 'billing@example.net', recipient: 'ap@example.org' },
      message('billing@example.net', 'ap@example.org'),
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
      failedAuth('PLAIN', 'nosuch@example.org', 'guess-2'),
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
    // Cyrus SASL looks names up as typed, so this login fails and is logged as typed.
    steps: [failedAuth('PLAIN', 'Alerts@Example.ORG', accounts.alerts.password)],
  },
  {
    name: 'submission-tls11-failure',
    service: 'submission',
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

interface Ports {
  submission: number;
  smtps: number;
  plain: number;
}

class Ledger {
  readonly accepted = new Map<string, AcceptedGroup>();
  readonly failures = new Map<string, FailureGroup>();
  messages = 0;
  recipients = 0;
  failedLogins = 0;

  addMessage(group: Omit<AcceptedGroup, 'messages' | 'recipients'>, recipients: number): void {
    const key = JSON.stringify(Object.values(group));
    const entry = this.accepted.get(key) ?? { ...group, messages: 0, recipients: 0 };
    entry.messages += 1;
    entry.recipients += recipients;
    this.accepted.set(key, entry);
    this.messages += 1;
    this.recipients += recipients;
  }

  addFailure(group: Omit<FailureGroup, 'failures'>): void {
    const key = JSON.stringify(Object.values(group));
    const entry = this.failures.get(key) ?? { ...group, failures: 0 };
    entry.failures += 1;
    this.failures.set(key, entry);
    this.failedLogins += 1;
  }

  truth(): Truth {
    const sorted = <T>(groups: Map<string, T>): T[] =>
      [...groups.keys()].sort().map((key) => groups.get(key)!);
    return {
      accepted: sorted(this.accepted),
      failures: sorted(this.failures),
      totals: { messages: this.messages, recipients: this.recipients, failures: this.failedLogins },
    };
  }
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

async function openSession(session: Session, ports: Ports): Promise<SmtpClient> {
  const helo = `client-${session.clientIp.split('.').at(-1)}.example.com`;
  const implicitTls = session.service === 'smtps' ? (session.tls as TlsProtocol) : undefined;
  const client = await SmtpClient.open({
    name: session.name,
    port: ports[session.service],
    clientIp: session.clientIp,
    implicitTls,
  });

  await client.expect(220, 'connect');
  await client.command(`EHLO ${helo}`, 250);
  const startsTlsLater = session.steps.some((step) => step.kind === 'starttls');
  if (session.service === 'submission' && session.tls !== 'none' && !startsTlsLater) {
    await startTls(client, session, helo);
  }
  return client;
}

async function startTls(client: SmtpClient, session: Session, helo: string): Promise<void> {
  await client.startTls(session.tls as TlsProtocol);
  await client.command(`EHLO ${helo}`, 250);
  const negotiated = client.tlsProtocol ?? 'none';
  if (negotiated !== session.tls) {
    throw new Error(`${session.name}: negotiated ${negotiated}, expected ${session.tls}`);
  }
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
  await client.command(`AUTH PLAIN ${response}`, code, `AUTH PLAIN <response for ${step.login}>`);
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
  await client.command('DATA', 354);
  await client.sendData([
    `From: <${step.sender || 'mailer-daemon@example.com'}>`,
    `To: <${step.recipients[0]}>`,
    `Subject: ${session.name} message ${index}`,
    `Message-ID: <${session.name}.${index}@e2e.example.com>`,
    '',
    `Message ${index} of session ${session.name}.`,
  ]);
}

async function runSession(client: SmtpClient, session: Session, ledger: Ledger): Promise<void> {
  const helo = `client-${session.clientIp.split('.').at(-1)}.example.com`;
  let login: { account: string; saslMechanism: Mechanism } | undefined;
  let index = 0;

  for (const step of session.steps) {
    switch (step.kind) {
      case 'auth':
        await authenticate(client, step);
        if (step.accepted) {
          login = { account: step.login, saslMechanism: step.mechanism };
        } else {
          ledger.addFailure({
            attemptedUsername: step.login,
            clientIp: session.clientIp,
            tlsProtocol: client.tlsProtocol ? session.tls : 'none',
            saslMechanism: step.mechanism,
          });
        }
        break;

      case 'starttls':
        await startTls(client, session, helo);
        break;

      case 'message': {
        if (!login) throw new Error(`${session.name}: the plan sends mail before a login`);
        index += 1;
        await sendMessage(client, session, step, index);
        const group = {
          account: login.account,
          saslMechanism: login.saslMechanism,
          senderAddress: step.sender,
          tlsProtocol: session.tls,
          clientIp: session.clientIp,
        };
        ledger.addMessage(group, new Set(step.recipients).size);
        break;
      }

      case 'resetAfterRcpt':
        await client.command(`MAIL FROM:<${step.sender}>`, 250);
        await client.command(`RCPT TO:<${step.recipient}>`, 250);
        await client.command('RSET', 250);
        break;

      case 'relayAttempt':
        await client.command(`MAIL FROM:<${step.sender}>`, 250);
        await client.command(`RCPT TO:<${step.recipient}>`, 550);
        break;
    }
  }
  await client.quit();
}

function parsePorts(text: string): Ports {
  const numbers = text.split(',').map(Number);
  if (numbers.length !== 3 || numbers.some((port) => !Number.isInteger(port) || port <= 0)) {
    throw new Error(`invalid --ports "${text}": expected SUBMISSION,SMTPS,PLAIN port numbers`);
  }
  const [submission, smtps, plain] = numbers;
  return { submission, smtps, plain };
}

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ports: { type: 'string' },
      truth: { type: 'string' },
      expectations: { type: 'string' },
      transcripts: { type: 'string' },
    },
  });
  if (!values.ports || !values.truth || !values.expectations) {
    throw new Error('missing option: run needs --ports, --truth and --expectations');
  }
  const ports = parsePorts(values.ports);
  const ledger = new Ledger();

  for (const session of sessions) {
    const client = await openSession(session, ports);
    try {
      await runSession(client, session, ledger);
    } finally {
      client.destroy();
      if (values.transcripts) {
        mkdirSync(values.transcripts, { recursive: true });
        const file = path.join(values.transcripts, `${session.name}.txt`);
        writeFileSync(file, `${client.transcript.join('\n')}\n`);
      }
    }
  }

  writeFileSync(values.truth, `${JSON.stringify(ledger.truth(), null, 2)}\n`);
  writeFileSync(values.expectations, `${ledger.messages} ${ledger.failedLogins}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'sasldb-users') {
    // The accounts exist only for one harness run.
    const lines = Object.values(accounts).map((account) => `${account.login}\t${account.password}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } else if (command === 'run') {
    await run(rest);
  } else {
    throw new Error(`unknown command "${command ?? ''}": expected sasldb-users or run`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(
    `sendmail-traffic: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
});
