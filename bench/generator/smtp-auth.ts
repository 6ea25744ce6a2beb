/** SMTP AUTH: authenticated submissions on ports 587, 465 and 25, and failed logins. */
import { stageAcceptedMessage } from './delivery.js';
import { Attacker, Device, SmtpdService, TlsVersion } from './population.js';
import { CommandCounts, disconnectCounters, tlsFromLine } from './postfix-text.js';
import { stagePostscreenPass } from './port25.js';
import { weighted } from './random.js';
import { DAY, MINUTE, SECOND } from './schedule.js';
import type { MailServer } from './simulation.js';

interface Campaign {
  attacker: Attacker;
  service: SmtpdService;
  saslMethod: string;
  /**
   * Text after `authentication failed: `: the base64 LOGIN challenge (`UGFzc3dvcmQ6` is
   * "Password:"), a reason alone, or a reason and `, sasl_username=U` as newer Postfix logs it.
   */
  form: 'challenge' | 'reason' | 'username';
  usernames: string[];
  remaining: number;
  meanGapMs: number;
}

/** Submissions never start in the last minutes of a UTC day (see `planSubmission`). */
const SUBMISSION_QUIET_BEFORE_MIDNIGHT_MS = 10 * MINUTE;

export const BRUTE_FORCE_NAMES = (
  'admin test info user postmaster webmaster support sales contact office root mail guest ' +
  'backup administrator admin@example.org info@example.com test@example.net'
).split(' ');

const RECIPIENT_COUNTS = weighted([
  [1, 70],
  [2, 12],
  [3, 6],
  [5, 6],
  [8, 4],
  [20, 1.5],
  [40, 0.5],
] as const);

const MESSAGES_PER_SESSION = weighted([
  [1, 72],
  [2, 14],
  [3, 6],
  [5, 5],
  [12, 3],
] as const);

/**
 * Plans one authenticated session with one or more messages. Sessions do not start in the last
 * ten minutes of a UTC day, so a message's `client=` and first qmgr line fall on the same day.
 * Its day in the truth then does not depend on which of the two lines dates it.
 */
export function planSubmission(server: MailServer, start: number): void {
  if (DAY - (start % DAY) < SUBMISSION_QUIET_BEFORE_MIDNIGHT_MS) return;

  const account = server.population.accountPicker.pick(server.random);
  const device = account.devicePicker.pick(server.random);
  server.lastSubmissionClient = device.clientIp;
  const clientText = `${device.clientName}[${device.clientIp}]`;
  let t = start;
  if (device.service === 'postfix/smtpd') t = stagePostscreenPass(server, t, device.clientIp);

  const pool = server.pool(device.service);
  const pid = pool.acquire(t);
  const program = `${device.service}[${pid}]`;
  server.stage(t, `${program}: connect from ${clientText}`);
  const [counts, tlsDone] = stageTlsStart(server, t, program, clientText, device);
  t = tlsDone + server.random.int(60, 600);

  const authFailures = server.random.chance(0.015) ? 1 : 0;
  if (authFailures > 0) {
    stageFailure(server, t, {
      program,
      clientText,
      clientIp: device.clientIp,
      saslMethod: device.saslMethod,
      form: server.random.pick(['challenge', 'username'] as const),
      username: account.login,
    });
    t += server.random.int(1500, 4000);
  }
  counts.auth = [1, 1 + authFailures];

  const messageCount = MESSAGES_PER_SESSION.pick(server.random);
  const mail: [number, number] = [0, 0];
  const rcpt: [number, number] = [0, 0];
  const data: [number, number] = [0, 0];
  let rset = 0;
  for (let m = 0; m < messageCount; m++) {
    t += server.random.int(80, 2500);
    const queueId = server.queueIds.next();
    const sender =
      account.senders.length > 1 && server.random.chance(0.25)
        ? server.random.pick(account.senders.slice(1))
        : account.senders[0];
    const recipients = server.submissionRecipients(RECIPIENT_COUNTS.pick(server.random), account);
    server.stage(
      t,
      `${program}: ${queueId}: client=${clientText}, sasl_method=${device.saslMethod}, sasl_username=${account.login}`,
    );
    mail[0]++;
    mail[1]++;
    rcpt[0] += recipients.length;
    rcpt[1] += recipients.length;

    // The client aborts with RSET after RCPT: the queue file is gone and qmgr never logs it.
    if (server.random.chance(0.03)) {
      rset++;
      t += server.random.int(50, 500);
      continue;
    }

    data[1]++;
    if (server.random.chance(0.004)) {
      t += server.random.int(200, 3000);
      const cleanupPid = server.pool('postfix/cleanup').acquire(t);
      server.stage(
        t,
        `postfix/cleanup[${cleanupPid}]: ${queueId}: milter-reject: END-OF-MESSAGE from ${clientText}: 5.7.1 Message rejected as spam; from=<${sender}> to=<${recipients[0].address}> proto=ESMTP helo=<${heloOf(device)}>`,
      );
      server.pool('postfix/cleanup').release(cleanupPid, t + 5);
      continue;
    }

    data[0]++;
    const tally = {
      account: account.login,
      saslMechanism: device.saslMethod,
      senderAddress: sender,
      clientIp: device.clientIp,
      tlsProtocol: device.tlsProtocol ?? 'none',
    };
    const messageId = `<${server.random.hex(8)}-${server.random.hex(4)}-${server.random.hex(12)}@${sender.split('@')[1]}>`;
    t = stageAcceptedMessage(server, t, { queueId, sender, recipients, messageId, tally });
  }

  t += server.random.int(5, 400);
  Object.assign(counts, { mail, rcpt, data, rset, quit: 1 });
  server.stage(t, `${program}: disconnect from ${clientText} ${disconnectCounters(counts)}`);
  pool.release(pid, t);
  server.commit();
}

/** Stages the TLS handshake line, if any; returns the command counts so far and the time. */
function stageTlsStart(
  server: MailServer,
  t: number,
  program: string,
  clientText: string,
  device: { tlsProtocol: TlsVersion | null; service: SmtpdService },
): [CommandCounts, number] {
  if (device.tlsProtocol === null) return [{ ehlo: 1 }, t];
  t += server.random.int(20, 300);
  server.stage(t, `${program}: ${tlsFromLine(server.random, clientText, device.tlsProtocol)}`);
  const counts = device.service === 'postfix/smtps/smtpd' ? { ehlo: 1 } : { ehlo: 2, starttls: 1 };
  return [counts, t];
}

interface FailedLogin {
  program: string;
  clientText: string;
  clientIp: string;
  saslMethod: string;
  form: Campaign['form'];
  /** The username tried, logged only in the `username` form. */
  username: string;
}

function stageFailure(server: MailServer, t: number, login: FailedLogin): void {
  const { program, clientText, clientIp, saslMethod, form, username } = login;
  let reason = 'authentication failure';
  let attemptedUsername: string | null = null;
  if (form === 'challenge')
    reason =
      saslMethod === 'LOGIN'
        ? server.random.pick(['UGFzc3dvcmQ6', 'UGFzc3dvcmQ6', 'VXNlcm5hbWU6'])
        : 'authentication failure';
  if (form === 'username') {
    reason = `authentication failure, sasl_username=${username}`;
    attemptedUsername = username;
  }
  server.schedule.stage(
    t,
    `${program}: warning: ${clientText}: SASL ${saslMethod} authentication failed: ${reason}`,
    { kind: 'failure', attemptedUsername, clientIp },
  );
}

/**
 * Starts a password-guessing campaign from one address, or a device that keeps trying an old
 * password. Each connection is planned when it starts. One log mixes the failure forms of
 * older and newer Postfix versions so that one file exercises both.
 */
export function startCampaign(server: MailServer, start: number): void {
  const campaign = server.random.chance(0.2)
    ? staleDeviceCampaign(server)
    : bruteForceCampaign(server);
  const next = (t: number): void => {
    if (server.closed || campaign.remaining <= 0) return;
    campaign.remaining--;
    planFailedConnection(server, t, campaign);
    const at = t + Math.max(SECOND, Math.round(server.random.exponential(campaign.meanGapMs)));
    server.schedule.at(at, () => next(at));
  };
  next(start);
}

function bruteForceCampaign(server: MailServer): Campaign {
  const saslMethod = server.random.chance(0.7) ? 'LOGIN' : 'PLAIN';
  const form = server.random.chance(0.5)
    ? 'username'
    : saslMethod === 'LOGIN'
      ? 'challenge'
      : 'reason';
  const usernames = server.random.chance(0.5)
    ? BRUTE_FORCE_NAMES
    : Array.from({ length: 30 }, () => server.population.accountPicker.pick(server.random).login);
  return {
    attacker: server.random.pick(server.population.attackers),
    service: weighted<SmtpdService>([
      ['postfix/smtpd', 40],
      ['postfix/submission/smtpd', 45],
      ['postfix/smtps/smtpd', 15],
    ]).pick(server.random),
    saslMethod,
    form,
    usernames,
    remaining: Math.min(3000, Math.ceil(server.random.exponential(60))),
    meanGapMs: server.random.int(2, 40) * SECOND,
  };
}

function staleDeviceCampaign(server: MailServer): Campaign {
  const account = server.population.accountPicker.pick(server.random);
  const device = account.devicePicker.pick(server.random);
  return {
    attacker: device,
    service: device.service,
    saslMethod: device.saslMethod,
    form: server.random.chance(0.5) ? 'username' : 'challenge',
    usernames: [account.login],
    remaining: server.random.int(3, 60),
    meanGapMs: server.random.int(5, 15) * MINUTE,
  };
}

function planFailedConnection(server: MailServer, start: number, campaign: Campaign): void {
  const { attacker, service } = campaign;
  const clientText = `${attacker.clientName}[${attacker.clientIp}]`;
  let t = start;
  if (service === 'postfix/smtpd') t = stagePostscreenPass(server, t, attacker.clientIp);

  const pool = server.pool(service);
  const pid = pool.acquire(t);
  const program = `${service}[${pid}]`;
  server.stage(t, `${program}: connect from ${clientText}`);
  const usesTls =
    service === 'postfix/smtps/smtpd' ||
    server.random.chance(service === 'postfix/smtpd' ? 0.3 : 0.85);
  const tlsProtocol: TlsVersion | null = usesTls
    ? server.random.chance(0.6)
      ? 'TLSv1.3'
      : 'TLSv1.2'
    : null;
  const [counts, tlsDone] = stageTlsStart(server, t, program, clientText, { tlsProtocol, service });
  t = tlsDone + server.random.int(300, 2000);

  const attempts = campaign.form === 'challenge' ? 1 : server.random.int(1, 3);
  for (let i = 0; i < attempts; i++) {
    stageFailure(server, t, {
      program,
      clientText,
      clientIp: attacker.clientIp,
      saslMethod: campaign.saslMethod,
      form: campaign.form,
      username: server.random.pick(campaign.usernames),
    });
    t += server.random.int(500, 3000);
  }
  counts.auth = [0, attempts];

  const quits = server.random.chance(0.4);
  if (!quits) server.stage(t, `${program}: lost connection after AUTH from ${clientText}`);
  counts.quit = quits ? 1 : 0;
  server.stage(t, `${program}: disconnect from ${clientText} ${disconnectCounters(counts)}`);
  pool.release(pid, t);
  server.commit();
}

function heloOf(device: Device): string {
  return device.clientIp.includes(':') ? `[IPv6:${device.clientIp}]` : `[${device.clientIp}]`;
}
