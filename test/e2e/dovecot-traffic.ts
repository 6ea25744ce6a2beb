/**
 * Scripted traffic for the Dovecot end-to-end test, and the ground truth computed from what
 * was sent. dovecot-harness.sh runs it with tsx:
 *
 *   dovecot-traffic.ts passwd-file
 *     prints the Dovecot passwd-file for the accounts below.
 *   dovecot-traffic.ts run --ports SUBMISSION,SUBMISSIONS,IMAP,POSTFIX --truth FILE
 *       --expectations FILE
 *     sends the sessions and writes the truth JSON, plus the counts of log lines that tell
 *     the harness when both servers have logged everything.
 *
 * Dovecot delays the AUTH reply to an address that failed before by 2 to 15 s (its auth
 * penalty), so each client that fails gets its own address.
 */
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { SmtpClient, type TlsProtocol } from './smtp-client.js';

/** The listener a session talks to. */
type Service = 'submission' | 'submissions' | 'postfix-submission';
type Mechanism = 'PLAIN' | 'LOGIN';

const accounts: Record<string, string> = {
  'alice@example.org': 'Alice-Pass-1',
  'bob@example.org': 'Bob-Pass-2',
};

type Step =
  | { kind: 'auth'; mechanism: Mechanism; login: string; password: string; accepted: boolean }
  | { kind: 'message'; sender: string; recipients: string[] };

interface Session {
  name: string;
  service: Service;
  tls: TlsProtocol | 'none';
  clientIp: string;
  steps: Step[];
}

/** One accepted message, as the Dovecot reader must report it. */
interface TruthMessage {
  session: string;
  account: string;
  saslMethod: Mechanism;
  senderAddress: string;
  clientIp: string;
  tlsProtocol: TlsProtocol | 'none';
  /** RCPT commands accepted, duplicates included: what Dovecot logs as `nrcpt`. */
  rcptCommands: number;
  /** Unique recipients: what the relay MTA queues. */
  recipients: number;
}

/** One failed AUTH and the log that must count it. */
interface TruthFailure {
  session: string;
  countedBy: 'dovecot' | 'postfix';
  attemptedUsername: string;
  saslMethod: Mechanism;
  clientIp: string;
  tlsProtocol: TlsProtocol | 'none';
  userExists: boolean;
}

export interface DovecotTruth {
  /** Messages submitted through Dovecot's submission service. */
  dovecotMessages: TruthMessage[];
  /** Messages submitted through Postfix with Dovecot SASL. */
  postfixMessages: TruthMessage[];
  failures: TruthFailure[];
  /** Failed IMAP logins: in the Dovecot log, but no SMTP AUTH. */
  imapFailures: number;
}

function auth(mechanism: Mechanism, login: string, password?: string): Step {
  const expected = accounts[login.toLowerCase()];
  const accepted = password === undefined && expected !== undefined;
  return { kind: 'auth', mechanism, login, password: password ?? expected ?? 'x', accepted };
}

function message(sender: string, ...recipients: string[]): Step {
  return { kind: 'message', sender, recipients };
}

const sessions: Session[] = [
  {
    name: 'D1',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.2',
    steps: [
      auth('PLAIN', 'alice@example.org'),
      message('alice@example.org', 'a@example.net', 'b@example.net'),
    ],
  },
  {
    name: 'D2',
    service: 'submissions',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.3',
    steps: [auth('LOGIN', 'Bob@Example.ORG'), message('bob@example.org', 'c@example.net')],
  },
  {
    name: 'D3',
    service: 'submission',
    tls: 'none',
    clientIp: '127.0.0.4',
    steps: [auth('PLAIN', 'alice@example.org'), message('alice@example.org', 'd@example.net')],
  },
  {
    name: 'D4',
    service: 'submission',
    tls: 'TLSv1.1',
    clientIp: '127.0.0.2',
    steps: [
      auth('LOGIN', 'bob@example.org'),
      message('bob@example.org', 'x@example.net', 'x@example.net', 'y@example.net'),
      message('', 'z@example.net'),
    ],
  },
  {
    name: 'D5',
    service: 'submission',
    tls: 'TLSv1',
    clientIp: '127.0.0.5',
    steps: [auth('PLAIN', 'alice@example.org', 'wrong-password')],
  },
  {
    name: 'D6',
    service: 'submissions',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.6',
    steps: [auth('LOGIN', 'ghost@example.org', 'whatever')],
  },
  {
    name: 'D7',
    service: 'submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.8',
    steps: [
      auth('PLAIN', 'alice@example.org', 'not-the-password'),
      auth('PLAIN', 'alice@example.org'),
      message('alice@example.org', 'e@example.net'),
    ],
  },
  {
    name: 'D8',
    service: 'submission',
    tls: 'none',
    clientIp: '127.0.0.9',
    steps: [auth('LOGIN', 'ghost@example.org', 'x1'), auth('LOGIN', 'nobody@example.org', 'x2')],
  },
  {
    name: 'P1',
    service: 'postfix-submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.10',
    steps: [auth('PLAIN', 'alice@example.org', 'wrong-password')],
  },
  {
    name: 'P2',
    service: 'postfix-submission',
    tls: 'TLSv1.3',
    clientIp: '127.0.0.11',
    steps: [auth('LOGIN', 'ghost@example.org', 'whatever')],
  },
  {
    name: 'P3',
    service: 'postfix-submission',
    tls: 'TLSv1.2',
    clientIp: '127.0.0.12',
    steps: [auth('PLAIN', 'bob@example.org'), message('bob@example.org', 'f@example.net')],
  },
];

const IMAP_FAILURE = { clientIp: '127.0.0.7', login: 'carol@example.org', password: 'nope' };

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

async function authenticate(client: SmtpClient, step: Extract<Step, { kind: 'auth' }>) {
  const expected = step.accepted ? 235 : 535;
  if (step.mechanism === 'PLAIN') {
    const response = base64(`\0${step.login}\0${step.password}`);
    await client.command(`AUTH PLAIN ${response}`, expected, `AUTH PLAIN <${step.login}>`);
    return;
  }
  await client.command('AUTH LOGIN', 334);
  await client.command(base64(step.login), 334, `<user ${step.login}>`);
  await client.command(base64(step.password), expected, '<password>');
}

async function sendMessage(client: SmtpClient, step: Extract<Step, { kind: 'message' }>) {
  await client.command(`MAIL FROM:<${step.sender}>`, 250);
  for (const recipient of step.recipients) {
    await client.command(`RCPT TO:<${recipient}>`, 250);
  }
  await client.command('DATA', 354);
  await client.sendData([
    `From: <${step.sender || 'mailer-daemon@example.org'}>`,
    'Subject: e2e',
    '',
    'e2e',
  ]);
}

async function openSession(session: Session, ports: Record<Service, number>) {
  const port = ports[session.service];
  const implicit = session.service === 'submissions' && session.tls !== 'none';
  const client = await SmtpClient.open({
    name: session.name,
    port,
    clientIp: session.clientIp,
    implicitTls: implicit ? (session.tls as TlsProtocol) : undefined,
  });
  await client.expect(220, 'connect');
  await client.command('EHLO client.example.org', 250);

  if (!implicit && session.tls !== 'none') {
    await client.startTls(session.tls);
    await client.command('EHLO client.example.org', 250);
  }
  return client;
}

async function runSession(session: Session, ports: Record<Service, number>, truth: DovecotTruth) {
  const client = await openSession(session, ports);
  let login: { account: string; mechanism: Mechanism } | undefined;
  const countedBy = session.service === 'postfix-submission' ? 'postfix' : 'dovecot';

  for (const step of session.steps) {
    if (step.kind === 'auth') {
      await authenticate(client, step);
      if (step.accepted) {
        login = { account: step.login.toLowerCase(), mechanism: step.mechanism };
        continue;
      }
      truth.failures.push({
        session: session.name,
        countedBy,
        attemptedUsername: step.login.toLowerCase(),
        saslMethod: step.mechanism,
        clientIp: session.clientIp,
        tlsProtocol: session.tls,
        userExists: accounts[step.login.toLowerCase()] !== undefined,
      });
      continue;
    }

    await sendMessage(client, step);
    const messages = countedBy === 'postfix' ? truth.postfixMessages : truth.dovecotMessages;
    messages.push({
      session: session.name,
      account: login!.account,
      saslMethod: login!.mechanism,
      senderAddress: step.sender,
      clientIp: session.clientIp,
      tlsProtocol: session.tls,
      rcptCommands: step.recipients.length,
      recipients: new Set(step.recipients).size,
    });
  }
  await client.quit();
}

/** Sends one failed IMAP LOGIN, then LOGOUT. */
async function failImapLogin(port: number): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress: IMAP_FAILURE.clientIp });
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));

  const waitFor = async (pattern: RegExp, what: string) => {
    const deadline = Date.now() + 30_000;
    while (!pattern.test(received)) {
      if (Date.now() > deadline) throw new Error(`IMAP: no ${what} within 30 s: ${received}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  await waitFor(/^\* OK/m, 'greeting');
  socket.write(`a LOGIN ${IMAP_FAILURE.login} ${IMAP_FAILURE.password}\r\n`);
  await waitFor(/^a NO/m, 'LOGIN failure');
  socket.write('b LOGOUT\r\n');
  await waitFor(/^b OK/m, 'LOGOUT reply');
  socket.end();
}

function parsePorts(value: string): Record<Service, number> & { imap: number } {
  const [submission, submissions, imap, postfix] = value.split(',').map(Number);
  if (![submission, submissions, imap, postfix].every((port) => port > 0)) {
    throw new Error(`invalid --ports "${value}"; expected SUBMISSION,SUBMISSIONS,IMAP,POSTFIX`);
  }
  return { submission, submissions, imap, 'postfix-submission': postfix };
}

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ports: { type: 'string' },
      truth: { type: 'string' },
      expectations: { type: 'string' },
    },
  });
  if (!values.ports || !values.truth || !values.expectations) {
    throw new Error(
      'usage: dovecot-traffic.ts run --ports P,P,P,P --truth FILE --expectations FILE',
    );
  }

  const ports = parsePorts(values.ports);
  const truth: DovecotTruth = {
    dovecotMessages: [],
    postfixMessages: [],
    failures: [],
    imapFailures: 0,
  };
  for (const session of sessions) {
    await runSession(session, ports, truth);
  }
  await failImapLogin(ports.imap);
  truth.imapFailures = 1;

  writeFileSync(values.truth, JSON.stringify(truth, null, 2) + '\n');
  // Dovecot logs one "Successfully relayed message" per message, and Postfix one qmgr
  // "removed" per message it received: the relayed ones plus its own.
  const relayed = truth.dovecotMessages.length;
  const queued = relayed + truth.postfixMessages.length;
  // A login process logs "(auth failed, N attempts" when a session ends without a login,
  // the IMAP one included.
  const failedSessions = sessions.filter((session) => {
    const logins = session.steps.filter((step) => step.kind === 'auth');
    return session.service !== 'postfix-submission' && !logins.at(-1)?.accepted;
  }).length;
  const authFailedLines = failedSessions + truth.imapFailures;
  writeFileSync(values.expectations, `${relayed} ${queued} ${authFailedLines}\n`);
}

function printPasswdFile(): void {
  for (const [login, password] of Object.entries(accounts)) {
    process.stdout.write(`${login}:{PLAIN}${password}\n`);
  }
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'passwd-file') {
  printPasswdFile();
} else if (command === 'run') {
  await run(rest);
} else {
  throw new Error('usage: dovecot-traffic.ts passwd-file | run ...');
}
