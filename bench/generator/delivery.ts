/** Queueing and delivery: cleanup, qmgr, local, virtual, lmtp and smtp, retries and bounces. */
import { SERVER_FQDN, TlsVersion } from './population.js';
import { delayFields, tlsToLine } from './postfix-text.js';
import { weighted } from './random.js';
import { MINUTE, SECOND, Tally } from './schedule.js';
import type { MailServer } from './simulation.js';

export interface Recipient {
  address: string;
  /** `null` for a hosted mailbox. */
  external: { domain: string; mxName: string; mxIp: string } | null;
}

/** A message in the queue, as qmgr logs it on every delivery attempt. */
interface QueuedMessage {
  queueId: string;
  sender: string;
  size: number;
  /** All recipients of the queue file, also on retries that deliver only some of them. */
  nrcpt: number;
}

export interface AcceptedMessage {
  queueId: string;
  sender: string;
  recipients: Recipient[];
  messageId: string;
  /** Truth tally of the first qmgr line, or null for mail that no client authenticated. */
  tally: Omit<Extract<Tally, { kind: 'message' }>, 'kind' | 'recipients'> | null;
}

type DeliveryStatus = 'sent' | 'deferred' | 'bounced';

const OUTBOUND_TLS = weighted<TlsVersion>([
  ['TLSv1.3', 70],
  ['TLSv1.2', 28.5],
  ['TLSv1', 1.5],
]);

/**
 * Stages cleanup, the first qmgr line (which carries the truth tally) and the first delivery
 * attempt. Returns the time at which the client has its reply to DATA.
 */
export function stageAcceptedMessage(
  server: MailServer,
  start: number,
  accepted: AcceptedMessage,
): number {
  const { queueId, sender, recipients, tally } = accepted;
  const size = Math.max(400, Math.round(server.random.logNormal(6000, 1.4)));
  const t = start + server.random.int(100, 400) + Math.round(size / 5000);
  const cleanupPid = server.pool('postfix/cleanup').acquire(t);
  server.stage(t, `postfix/cleanup[${cleanupPid}]: ${queueId}: message-id=${accepted.messageId}`);
  server.pool('postfix/cleanup').release(cleanupPid, t + 10);

  const message: QueuedMessage = { queueId, sender, size, nrcpt: recipients.length };
  const queued = t + server.random.int(2, 400);
  const truth =
    tally === null ? null : { kind: 'message' as const, ...tally, recipients: recipients.length };
  server.schedule.stage(queued, queueActiveText(server, message), truth);
  stageDeliveries(server, queued, message, recipients, 1);
  return t;
}

function queueActiveText(server: MailServer, message: QueuedMessage): string {
  const { queueId, sender, size, nrcpt } = message;
  return `postfix/qmgr[${server.qmgrPid}]: ${queueId}: from=<${sender}>, size=${size}, nrcpt=${nrcpt} (queue active)`;
}

/**
 * Stages one delivery attempt for each recipient. Deferred recipients get a retry action
 * later, which repeats the qmgr `from=` line as Postfix does on every retry.
 */
function stageDeliveries(
  server: MailServer,
  start: number,
  message: QueuedMessage,
  recipients: Recipient[],
  attempt: number,
): void {
  const { queueId } = message;
  let end = start;
  for (const recipient of recipients) {
    if (recipient.external !== null) continue;
    const at = start + server.random.int(5, 300);
    end = Math.max(end, stageLocalDelivery(server, at, queueId, recipient.address, start));
  }

  const deferred: Recipient[] = [];
  let bounced = false;
  for (const group of groupByDomain(recipients)) {
    const status = deliveryStatus(server, attempt);
    const at = start + server.random.int(5, 500);
    end = Math.max(end, stageSmtpDelivery(server, at, queueId, group, status, start));
    if (status === 'deferred') deferred.push(...group);
    if (status === 'bounced') bounced = true;
  }

  // One non-delivery notification covers all bounced recipients of the attempt.
  if (bounced) end = stageBounce(server, end + server.random.int(5, 50), queueId, message.sender);

  if (deferred.length === 0) {
    const removedAt = end + server.random.int(1, 20);
    server.stage(removedAt, `postfix/qmgr[${server.qmgrPid}]: ${queueId}: removed`);
    return;
  }

  // The first retry follows a greylisting delay of minutes, later ones the queue run interval.
  const backoff =
    attempt === 1
      ? server.random.int(5 * MINUTE, 20 * MINUTE)
      : server.random.int(30 * MINUTE, 70 * MINUTE);
  const retryAt = end + backoff;
  server.schedule.at(retryAt, () => retryDelivery(server, retryAt, message, deferred, attempt + 1));
}

function groupByDomain(recipients: Recipient[]): Recipient[][] {
  const byDomain = new Map<string, Recipient[]>();
  for (const recipient of recipients) {
    if (recipient.external === null) continue;
    const group = byDomain.get(recipient.external.domain) ?? [];
    group.push(recipient);
    byDomain.set(recipient.external.domain, group);
  }
  return [...byDomain.values()];
}

function deliveryStatus(server: MailServer, attempt: number): DeliveryStatus {
  const outcome = server.random.next();
  const deferChance = attempt === 1 ? 0.05 : 0.3;
  if (outcome < deferChance) return 'deferred';
  return outcome < deferChance + 0.015 ? 'bounced' : 'sent';
}

function retryDelivery(
  server: MailServer,
  start: number,
  message: QueuedMessage,
  recipients: Recipient[],
  attempt: number,
): void {
  if (server.closed) return;
  server.stage(start, queueActiveText(server, message));
  stageDeliveries(server, start, message, recipients, attempt);
  server.commit();
}

function stageLocalDelivery(
  server: MailServer,
  t: number,
  queueId: string,
  address: string,
  queuedAt: number,
): number {
  const isLocal = address.endsWith(`@${SERVER_FQDN}`);
  const transport = isLocal ? 'local' : server.population.transportOf(address);
  const pool = server.pool(`postfix/${transport}`);
  const pid = pool.acquire(t);
  const delay = delayFields(server.random, (t - queuedAt) / SECOND + server.random.next() * 0.3);
  const head = `postfix/${transport}[${pid}]: ${queueId}: to=<${address}>`;

  if (transport === 'local') {
    const user = address.slice(0, address.indexOf('@'));
    server.stage(
      t,
      `${head}, orig_to=<${user}>, relay=local, ${delay}, dsn=2.0.0, status=sent (delivered to mailbox)`,
    );
  } else if (transport === 'virtual') {
    server.stage(
      t,
      `${head}, relay=virtual, ${delay}, dsn=2.0.0, status=sent (delivered to maildir)`,
    );
  } else {
    const session = server.random.hex(8);
    const lmtpPid = server.random.int(20000, 60000);
    server.stage(
      t,
      `dovecot: lmtp(${address})<${lmtpPid}><${session}>: msgid=<${server.random.hex(12)}@${SERVER_FQDN}>: saved mail to INBOX`,
    );
    server.stage(
      t,
      `${head}, relay=${SERVER_FQDN}[private/dovecot-lmtp], ${delay}, dsn=2.0.0, status=sent (250 2.0.0 <${address}> ${session} Saved)`,
    );
  }
  pool.release(pid, t + 5);
  return t + 5;
}

/** One smtp client connection to the recipients' MX; returns when it ends. */
function stageSmtpDelivery(
  server: MailServer,
  start: number,
  queueId: string,
  group: Recipient[],
  status: DeliveryStatus,
  queuedAt: number,
): number {
  const external = group[0].external;
  if (external === null) throw new Error(`recipient ${group[0].address} is hosted, not external`);
  const pool = server.pool('postfix/smtp');
  const pid = pool.acquire(start);
  const program = `postfix/smtp[${pid}]`;
  const relay = `${external.mxName}[${external.mxIp}]:25`;
  let t = start;

  if (status === 'deferred' && server.random.chance(0.5)) {
    t += 30 * SECOND;
    for (const recipient of group) {
      const delay = delayFields(server.random, (t - queuedAt) / SECOND);
      server.stage(
        t,
        `${program}: ${queueId}: to=<${recipient.address}>, relay=none, ${delay}, dsn=4.4.1, status=deferred (connect to ${relay}: Connection timed out)`,
      );
    }
    pool.release(pid, t + 1);
    return t + 1;
  }

  if (external.mxIp.includes(':') && server.random.chance(0.1)) {
    server.stage(t, `${program}: connect to ${relay}: Network is unreachable`);
  }
  t += server.random.int(80, 900);
  if (server.random.chance(0.88)) {
    server.stage(
      t,
      `${program}: ${tlsToLine(server.random, relay, OUTBOUND_TLS.pick(server.random))}`,
    );
  }
  for (const recipient of group) {
    t += server.random.int(50, 600);
    const delay = delayFields(server.random, (t - queuedAt) / SECOND);
    const result = smtpResult(
      server,
      status,
      `${external.mxName}[${external.mxIp}]`,
      recipient.address,
    );
    server.stage(
      t,
      `${program}: ${queueId}: to=<${recipient.address}>, relay=${relay}, ${delay}, ${result}`,
    );
  }
  pool.release(pid, t + 5);
  return t + 5;
}

function smtpResult(
  server: MailServer,
  status: DeliveryStatus,
  host: string,
  address: string,
): string {
  if (status === 'deferred') {
    return `dsn=4.7.1, status=deferred (host ${host} said: 450 4.7.1 <${address}>: Recipient address rejected: Greylisted for 300 seconds (in reply to RCPT TO command))`;
  }
  if (status === 'bounced') {
    return `dsn=5.1.1, status=bounced (host ${host} said: 550 5.1.1 <${address}>: Recipient address rejected: User unknown (in reply to RCPT TO command))`;
  }
  return `dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ${server.random.hex(12).toUpperCase()})`;
}

/** Stages the non-delivery notification: a new message from `<>` that no client submitted. */
function stageBounce(server: MailServer, t: number, queueId: string, sender: string): number {
  if (sender === '') return t;
  const bounceId = server.queueIds.next();
  const cleanupPid = server.pool('postfix/cleanup').acquire(t);
  server.stage(
    t,
    `postfix/cleanup[${cleanupPid}]: ${bounceId}: message-id=<${utcStamp(t)}.${bounceId}@${SERVER_FQDN}>`,
  );
  server.pool('postfix/cleanup').release(cleanupPid, t + 5);

  const bouncePid = server.pool('postfix/bounce').acquire(t);
  server.stage(
    t,
    `postfix/bounce[${bouncePid}]: ${queueId}: sender non-delivery notification: ${bounceId}`,
  );
  server.pool('postfix/bounce').release(bouncePid, t + 5);

  const notification: QueuedMessage = {
    queueId: bounceId,
    sender: '',
    size: server.random.int(2500, 9000),
    nrcpt: 1,
  };
  server.stage(t + 1, queueActiveText(server, notification));
  const delivered = stageLocalDelivery(server, t + server.random.int(5, 200), bounceId, sender, t);
  server.stage(delivered + 1, `postfix/qmgr[${server.qmgrPid}]: ${bounceId}: removed`);
  return delivered + 2;
}

/** Mail from cron jobs and web applications through sendmail(1): no SMTP, no SASL. */
export function planPickup(server: MailServer, start: number): void {
  const queueId = server.queueIds.next();
  const user = server.random.pick(['root', 'www-data', 'www-data', 'backup', 'nagios']);
  const uid = { root: 0, 'www-data': 33, backup: 34, nagios: 112 }[user] ?? 1000;
  server.stage(start, `postfix/pickup[${server.pickupPid}]: ${queueId}: uid=${uid} from=<${user}>`);

  const recipient: Recipient =
    user === 'www-data'
      ? server.externalRecipient()
      : { address: server.random.pick(server.population.mailboxes).address, external: null };
  stageAcceptedMessage(server, start, {
    queueId,
    sender: `${user}@${SERVER_FQDN}`,
    recipients: [recipient],
    messageId: `<${utcStamp(start)}.${queueId}@${SERVER_FQDN}>`,
    tally: null,
  });
  server.commit();
}

/** `YYYYMMDDhhmmss` as Postfix uses it in the message-id of mail it creates itself. */
function utcStamp(timeMs: number): string {
  return new Date(timeMs).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}
