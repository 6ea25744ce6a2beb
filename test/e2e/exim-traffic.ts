/**
 * Scripted SMTP AUTH traffic for the Exim end-to-end test, and the ground truth computed from
 * what was sent. exim-harness.sh runs it with tsx:
 *
 *   exim-traffic.ts passwd-file
 *     prints the lsearch password file for the accounts below.
 *   exim-traffic.ts run --phase pid|default --ports SUBMISSION,SMTPS,PLAIN --truth FILE
 *       [--transcripts DIR]
 *     sends the sessions and writes the truth JSON for that phase's log settings.
 *
 * The domains below match the routers in exim-harness.sh: later.example.net is deferred until
 * the harness releases it, nowhere.example.net fails, team@lists.example.org expands to two
 * mailboxes of batch.example.org, which one batched appendfile transport delivers (one `=>`
 * line and then `->` lines), and everything else is discarded by a :blackhole: router.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { SmtpClient, type TlsProtocol } from './smtp-client.js';

type Service = 'submission' | 'smtps' | 'plain';
type Mechanism = 'PLAIN' | 'LOGIN' | 'CRAM-MD5';
type ReportedTls = TlsProtocol | 'none' | 'unknown';

/** The authenticator of exim-harness.sh that serves each mechanism, named as Debian names them. */
const AUTHENTICATORS: Record<Mechanism, string> = {
  PLAIN: 'plain_server',
  LOGIN: 'login_server',
  'CRAM-MD5': 'cram_md5_server',
};

interface Account {
  login: string;
  password: string;
}

type Step =
  | { kind: 'auth'; mechanism: Mechanism; login: string; password: string; accepted: boolean }
  | { kind: 'authWithoutInitialResponse'; login: string; password: string }
  | { kind: 'message'; sender: string; recipients: string[] }
  | { kind: 'resetAfterRcpt'; sender: string; recipient: string }
  | { kind: 'authCancelled' }
  | { kind: 'relayAttempt'; sender: string; recipient: string };

interface Session {
  name: string;
  service: Service;
  tls: TlsProtocol | 'none';
  /** Sends AUTH before STARTTLS on the submission port, then starts TLS. */
  authBeforeTls?: boolean;
  clientIp: string;
  steps: Step[];
}

interface AcceptedGroup {
  account: string;
  saslMethod: string;
  saslMechanism: string;
  senderAddress: string;
  tlsProtocol: ReportedTls;
  clientIp: string;
  messages: number;
  recipients: number;
}

interface FailureGroup {
  attemptedUsername: string;
  saslMethod: string;
  saslMechanism: string;
  clientIp: string;
  tlsProtocol: ReportedTls;
  failures: number;
}

export interface EximTruth {
  accepted: AcceptedGroup[];
  failures: FailureGroup[];
  totals: { messages: number; recipients: number; failures: number; authOnlySessions: number };
  /** Milliseconds since the epoch: every event of the phase lies in [start, end]. */
  window: { start: number; end: number };
}

/**
 * What each phase's log settings reveal (exim-harness.sh sets log_selector to match). With
 * `+pid` a failed login takes the TLS state of its session; without it the state is unknown.
 * Only `+smtp_no_mail` logs sessions that authenticated and sent nothing.
 */
const PHASES = {
  pid: { failureTlsKnown: true, logsAuthOnly: true },
  default: { failureTlsKnown: false, logsAuthOnly: false },
};
type PhaseName = keyof typeof PHASES;

const accounts = {
  scanner: { login: 'scanner@example.com', password: 'Scanner-Pass-1' },
  alice: { login: 'alice@example.com', password: 'Alice-Pass-2' },
  alerts: { login: 'alerts@example.org', password: 'Alerts-Pass-3' },
  billing: { login: 'billing@example.net', password: 'Billing-Pass-4' },
  printer: { login: 'printer', password: 'Printer-Pass-5' },
} satisfies Record<string, Account>;

function auth(mechanism: Mechanism, account: Account, login = account.login): Step {
  return { kind: 'auth', mechanism, login, password: account.password, accepted: true };
}

function failedAuth(mechanism: Mechanism, login: string, password: string): Step {
  return { kind: 'auth', mechanism, login, password, accepted: false };
}

function message(sender: string, ...recipients: string[]): Step {
  return { kind: 'message', sender, recipients };
}

/** Client addresses: 127.0.0.51-54 send mail, and each failing client has its own. */
const sessions: Session[] = [
  {
    name: 'submission-tls13-plain',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.51',
    steps: [auth('PLAIN', accounts.scanner), message('scanner@example.com', 'ops@example.org')],
  },
  {
    name: 'submission-tls12-login',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.51',
    steps: [
      auth('LOGIN', accounts.scanner),
      message('noreply@example.com', 'ops@example.org', 'it@example.com'),
    ],
  },
  {
    name: 'submission-tls11-cram-md5',
    service: 'submission',
    tls: 'TLSv1.1',
    clientIp: '127.0.0.52',
    steps: [auth('CRAM-MD5', accounts.alerts), message('alerts@example.org', 'oncall@example.org')],
  },
  {
    name: 'submission-tls10-login',
    service: 'submission',
    tls: 'TLSv1',
    clientIp: '127.0.0.52',
    steps: [
      auth('LOGIN', accounts.alerts),
      message('monitoring@example.net', 'a@example.org', 'b@example.org', 'c@example.com'),
    ],
  },
  {
    name: 'smtps-tls13-plain',
    service: 'smtps',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.53',
    steps: [auth('PLAIN', accounts.alice), message('alice@example.com', 'friend@example.org')],
  },
  {
    name: 'smtps-tls12-sender-domain-differs',
    service: 'smtps',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.53',
    steps: [
      auth('LOGIN', accounts.alice),
      message('alice@example.org', 'x@example.net', 'y@example.net'),
    ],
  },
  {
    name: 'smtps-tls11-plain',
    service: 'smtps',
    tls: 'TLSv1.1',
    clientIp: '127.0.0.53',
    steps: [auth('PLAIN', accounts.billing), message('billing@example.net', 'ap@example.org')],
  },
  {
    name: 'smtps-tls10-cram-md5',
    service: 'smtps',
    tls: 'TLSv1',
    clientIp: '127.0.0.54',
    steps: [
      auth('CRAM-MD5', accounts.billing),
      message('invoices@example.net', 'ap@example.org', 'ar@example.com'),
    ],
  },
  {
    name: 'plain-auth-plain',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.54',
    steps: [auth('PLAIN', accounts.printer), message('printer@example.com', 'scans@example.com')],
  },
  {
    name: 'plain-auth-login',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.54',
    steps: [auth('LOGIN', accounts.billing), message('billing@example.net', 'ap@example.org')],
  },
  {
    name: 'submission-three-messages',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.51',
    steps: [
      auth('LOGIN', accounts.scanner),
      message('scanner@example.com', 'ops@example.org'),
      message('scans@example.org', 'ops@example.org', 'it@example.com'),
      message('scanner@example.com', 'a@example.org', 'b@example.org', 'c@example.org'),
    ],
  },
  {
    name: 'smtps-duplicate-rcpt',
    service: 'smtps',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.52',
    steps: [
      { kind: 'authWithoutInitialResponse', ...accounts.alerts },
      message('alerts@example.org', 'oncall@example.org'),
      // Exim keeps a repeated RCPT and logs one delivery line for each copy.
      message('alerts@example.org', 'oncall@example.org', 'ops@example.org', 'oncall@example.org'),
    ],
  },
  {
    name: 'plain-alias-batch-null-sender',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.53',
    steps: [
      auth('LOGIN', accounts.alice),
      // team@ expands to two mailboxes, and the same mailbox in other case is one recipient.
      message(
        'alice@example.com',
        'team@lists.example.org',
        'carol@batch.example.org',
        'Carol@Batch.Example.ORG',
      ),
      message('', 'postmaster@example.org'),
    ],
  },
  {
    name: 'submission-auth-only',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.52',
    steps: [auth('PLAIN', accounts.alerts)],
  },
  {
    name: 'smtps-rset-after-rcpt',
    service: 'smtps',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.54',
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
    clientIp: '127.0.0.51',
    // The Debian authenticators set server_set_id to the name as typed.
    steps: [
      auth('PLAIN', accounts.scanner, 'Scanner@Example.COM'),
      message('scanner@example.com', 'boss@example.org'),
    ],
  },
  {
    name: 'submission-deferred-then-delivered',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.52',
    steps: [
      auth('LOGIN', accounts.alerts),
      message('alerts@example.org', 'report@later.example.net', 'oncall@example.org'),
    ],
  },
  {
    name: 'smtps-failed-recipient',
    service: 'smtps',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.53',
    steps: [
      auth('PLAIN', accounts.alice),
      message('alice@example.com', 'ghost@nowhere.example.net', 'friend@example.org'),
    ],
  },
  {
    name: 'submission-wrong-password',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.61',
    steps: [failedAuth('PLAIN', accounts.scanner.login, 'wrong-password')],
  },
  {
    name: 'submission-unknown-user',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.62',
    steps: [failedAuth('LOGIN', 'ghost@example.com', 'whatever')],
  },
  {
    name: 'plain-unknown-user-no-domain',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.63',
    steps: [failedAuth('LOGIN', 'admin', 'admin')],
  },
  {
    name: 'smtps-two-failures',
    service: 'smtps',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.64',
    steps: [
      failedAuth('LOGIN', 'ghost@example.com', 'guess-1'),
      failedAuth('PLAIN', 'nosuch@example.org', 'guess-2'),
    ],
  },
  {
    name: 'submission-failure-then-success',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.65',
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
    clientIp: '127.0.0.66',
    steps: [failedAuth('PLAIN', 'Alerts@Example.ORG', 'wrong-password')],
  },
  {
    name: 'smtps-tls11-cram-md5-failure',
    service: 'smtps',
    tls: 'TLSv1.1',
    clientIp: '127.0.0.67',
    steps: [failedAuth('CRAM-MD5', accounts.billing.login, 'wrong-password')],
  },
  {
    name: 'submission-auth-before-starttls',
    service: 'submission',
    tls: 'TLSv1.2',
    authBeforeTls: true,
    clientIp: '127.0.0.68',
    steps: [],
  },
  {
    name: 'submission-auth-cancelled',
    service: 'submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.69',
    steps: [{ kind: 'authCancelled' }],
  },
  {
    name: 'plain-unauthenticated-relay',
    service: 'plain',
    tls: 'none',
    clientIp: '127.0.0.70',
    steps: [{ kind: 'relayAttempt', sender: 'spoof@example.com', recipient: 'victim@example.net' }],
  },
];

interface Ports {
  submission: number;
  smtps: number;
  plain: number;
}

interface SentMessage {
  account: string;
  mechanism: Mechanism;
  senderAddress: string;
  tlsProtocol: ReportedTls;
  clientIp: string;
  recipients: number;
}

interface FailedLogin {
  attemptedUsername: string;
  mechanism: Mechanism;
  clientIp: string;
  tlsProtocol: ReportedTls;
}

class Ledger {
  readonly messages: SentMessage[] = [];
  readonly failedLogins: FailedLogin[] = [];
  authOnlySessions = 0;
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function heloOf(session: Session): string {
  return `client-${session.clientIp.split('.').at(-1)}.example.com`;
}

async function openSession(session: Session, ports: Ports): Promise<SmtpClient> {
  const helo = heloOf(session);
  const implicitTls = session.service === 'smtps' && session.tls !== 'none';
  const client = await SmtpClient.open({
    name: session.name,
    port: ports[session.service],
    clientIp: session.clientIp,
    implicitTls: implicitTls ? (session.tls as TlsProtocol) : undefined,
  });

  await client.expect(220, 'connect');
  await client.command(`EHLO ${helo}`, 250);

  if (session.authBeforeTls) {
    // exim-harness.sh advertises AUTH on this port only after STARTTLS.
    await client.command(`AUTH PLAIN ${base64('\0probe\0probe')}`, 503, 'AUTH PLAIN <probe>');
  }
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

/** RFC 2195: the response is the login, a space and the hex HMAC-MD5 of the challenge. */
function cramMd5Response(challengeBase64: string, login: string, password: string): string {
  const challenge = Buffer.from(challengeBase64, 'base64');
  const digest = createHmac('md5', password).update(challenge).digest('hex');
  return base64(`${login} ${digest}`);
}

async function authenticate(client: SmtpClient, step: Extract<Step, { kind: 'auth' }>) {
  const code = step.accepted ? 235 : 535;

  if (step.mechanism === 'LOGIN') {
    await client.command('AUTH LOGIN', 334);
    await client.command(base64(step.login), 334, `<login ${step.login}>`);
    await client.command(base64(step.password), code, '<password>');
    return;
  }
  if (step.mechanism === 'CRAM-MD5') {
    const reply = await client.command('AUTH CRAM-MD5', 334);
    const challenge = reply.lines.at(-1)!.slice(4);
    const response = cramMd5Response(challenge, step.login, step.password);
    await client.command(response, code, `<CRAM-MD5 response for ${step.login}>`);
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
  // A subject with " for " and quotes, which `log_selector = +subject` logs before the
  // `for` list of `+received_recipients`.
  await client.sendData([
    `From: <${step.sender || 'mailer-daemon@example.com'}>`,
    `To: <${step.recipients[0]}>`,
    `Subject: "Report" for ${session.name} (${index})`,
    `Message-ID: <${session.name}.${index}@e2e.example.com>`,
    '',
    `Message ${index} of session ${session.name}.`,
  ]);
}

/** Unique recipients as Exim delivers them: the domain and, by default, the local part caselessly. */
function uniqueRecipients(recipients: string[]): number {
  return new Set(recipients.map((recipient) => recipient.toLowerCase())).size;
}

async function runSteps(
  client: SmtpClient,
  session: Session,
  phase: (typeof PHASES)[PhaseName],
  ledger: Ledger,
): Promise<void> {
  const failureTls: ReportedTls = phase.failureTlsKnown ? session.tls : 'unknown';
  let login: { account: string; mechanism: Mechanism } | undefined;
  let messageIndex = 0;

  for (const step of session.steps) {
    switch (step.kind) {
      case 'auth':
        await authenticate(client, step);
        if (step.accepted) {
          login = { account: step.login, mechanism: step.mechanism };
        } else {
          ledger.failedLogins.push({
            attemptedUsername: step.login,
            mechanism: step.mechanism,
            clientIp: session.clientIp,
            tlsProtocol: failureTls,
          });
        }
        break;

      case 'authWithoutInitialResponse': {
        await client.command('AUTH PLAIN', 334);
        const response = base64(`\0${step.login}\0${step.password}`);
        await client.command(response, 235, `<PLAIN response for ${step.login}>`);
        login = { account: step.login, mechanism: 'PLAIN' };
        break;
      }

      case 'message':
        if (!login) {
          throw new Error(`${session.name}: the plan sends a message before a successful AUTH`);
        }
        messageIndex += 1;
        await sendMessage(client, session, step, messageIndex);
        ledger.messages.push({
          ...login,
          senderAddress: step.sender,
          tlsProtocol: session.tls,
          clientIp: session.clientIp,
          recipients: uniqueRecipients(step.recipients),
        });
        break;

      case 'resetAfterRcpt':
        await client.command(`MAIL FROM:<${step.sender}>`, 250);
        await client.command(`RCPT TO:<${step.recipient}>`, 250);
        await client.command('RSET', 250);
        break;

      case 'authCancelled':
        // A client that gives up with "*" (RFC 4954 section 4) has not failed a password.
        await client.command('AUTH LOGIN', 334);
        await client.command('*', 501);
        break;

      case 'relayAttempt':
        await client.command(`MAIL FROM:<${step.sender}>`, 250);
        await client.command(`RCPT TO:<${step.recipient}>`, 550);
        break;
    }
  }

  if (login && messageIndex === 0 && phase.logsAuthOnly) {
    ledger.authOnlySessions += 1;
  }
  await client.quit();
}

function compareKeys(a: string, b: string): number {
  if (a < b) {
    return -1;
  }
  return a > b ? 1 : 0;
}

function sortedValues<T>(groups: Map<string, T>): T[] {
  return [...groups.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, group]) => group);
}

/** Groups what was sent the way the correlator's events are grouped in the test. */
function buildTruth(ledger: Ledger, window: EximTruth['window']): EximTruth {
  const accepted = new Map<string, AcceptedGroup>();
  for (const sent of ledger.messages) {
    const { account, senderAddress, tlsProtocol, clientIp } = sent;
    const saslMethod = AUTHENTICATORS[sent.mechanism];
    const key = JSON.stringify([account, saslMethod, senderAddress, tlsProtocol, clientIp]);
    const group = accepted.get(key) ?? {
      account,
      saslMethod,
      saslMechanism: sent.mechanism,
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
    const saslMethod = AUTHENTICATORS[failed.mechanism];
    const { attemptedUsername, clientIp, tlsProtocol } = failed;
    const key = JSON.stringify([attemptedUsername, saslMethod, clientIp, tlsProtocol]);
    const group = failures.get(key) ?? {
      attemptedUsername,
      saslMethod,
      saslMechanism: failed.mechanism,
      clientIp,
      tlsProtocol,
      failures: 0,
    };
    group.failures += 1;
    failures.set(key, group);
  }

  return {
    accepted: sortedValues(accepted),
    failures: sortedValues(failures),
    totals: {
      messages: ledger.messages.length,
      recipients: ledger.messages.reduce((sum, sent) => sum + sent.recipients, 0),
      failures: ledger.failedLogins.length,
      authOnlySessions: ledger.authOnlySessions,
    },
    window,
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
  // An lsearch file: "key: value", with the plain password as the value. The accounts exist
  // only for this run.
  const lines = Object.values(accounts).map((account) => `${account.login}: ${account.password}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function runPhase(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      phase: { type: 'string' },
      ports: { type: 'string' },
      truth: { type: 'string' },
      transcripts: { type: 'string' },
    },
  });
  const phaseName = values.phase as PhaseName;
  if (!(phaseName in PHASES)) {
    throw new Error(`invalid --phase "${values.phase}": expected pid or default`);
  }
  if (!values.ports || !values.truth) {
    throw new Error('missing option: run needs --ports and --truth');
  }
  const ports = parsePorts(values.ports);
  const ledger = new Ledger();
  // Exim stamps whole seconds unless +millisec is on, so the window starts a second early.
  const start = Date.now() - 1000;

  for (const session of sessions) {
    const client = await openSession(session, ports);
    try {
      await runSteps(client, session, PHASES[phaseName], ledger);
    } finally {
      client.destroy();
      if (values.transcripts) {
        mkdirSync(values.transcripts, { recursive: true });
        const file = path.join(values.transcripts, `${session.name}.txt`);
        writeFileSync(file, `${client.transcript.join('\n')}\n`);
      }
    }
  }

  // Deferred deliveries finish after the traffic, but every event carries its arrival or
  // AUTH time, which lies inside this window.
  const truth = buildTruth(ledger, { start, end: Date.now() + 1000 });
  writeFileSync(values.truth, `${JSON.stringify(truth, null, 2)}\n`);
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
  process.stderr.write(`exim-traffic: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
