/** Port 25: postscreen, mail from other servers, rejected and lost connections. */
import { stageAcceptedMessage } from './delivery.js';
import { Attacker, SERVER_IP } from './population.js';
import { CommandCounts, botHelo, disconnectCounters, tlsFromLine } from './postfix-text.js';
import { SECOND } from './schedule.js';
import type { MailServer } from './simulation.js';

const SERVER_IPV6 = '2001:db8:1::25';

/** Stages postscreen's CONNECT and PASS lines; returns the time smtpd takes the client over. */
export function stagePostscreenPass(server: MailServer, t: number, clientIp: string): number {
  const port = server.random.int(1024, 65535);
  const peer = formatPeer(clientIp, port);
  const local = clientIp.includes(':') ? formatPeer(SERVER_IPV6, 25) : formatPeer(SERVER_IP, 25);
  server.stage(t, `postfix/postscreen[${server.postscreenPid}]: CONNECT from ${peer} to ${local}`);
  if (server.random.chance(0.85)) {
    server.stage(t, `postfix/postscreen[${server.postscreenPid}]: PASS OLD ${peer}`);
    return t + server.random.int(1, 30);
  }
  t += 6 * SECOND + server.random.int(0, 300);
  server.stage(t, `postfix/postscreen[${server.postscreenPid}]: PASS NEW ${peer}`);
  return t + server.random.int(1, 30);
}

export function planInbound(server: MailServer, start: number): void {
  const client = server.random.pick(server.population.inboundClients);
  server.lastPort25Client = client.clientIp;

  let t = stagePostscreenPass(server, start, client.clientIp);
  const pid = server.pool('postfix/smtpd').acquire(t);
  const program = `postfix/smtpd[${pid}]`;

  // A name whose forward lookup fails is logged as `unknown`, after a warning.
  let clientName = client.clientName;
  if (clientName !== 'unknown' && server.random.chance(0.04)) {
    server.stage(
      t,
      `${program}: warning: hostname ${clientName} does not resolve to address ${client.clientIp}: Name or service not known`,
    );
    clientName = 'unknown';
  }
  const clientText = `${clientName}[${client.clientIp}]`;
  server.stage(t, `${program}: connect from ${clientText}`);

  const usesTls =
    client.clientName !== 'unknown' ? server.random.chance(0.9) : server.random.chance(0.3);
  const counts: CommandCounts = { ehlo: usesTls ? 2 : 1, starttls: usesTls ? 1 : 0, quit: 1 };
  if (usesTls) {
    t += server.random.int(40, 400);
    server.stage(
      t,
      `${program}: ${tlsFromLine(server.random, clientText, server.random.chance(0.75) ? 'TLSv1.3' : 'TLSv1.2')}`,
    );
  }

  const messageCount = server.random.chance(0.9) ? 1 : server.random.int(2, 4);
  const mail: [number, number] = [0, 0];
  const rcpt: [number, number] = [0, 0];
  const data: [number, number] = [0, 0];
  for (let m = 0; m < messageCount; m++) {
    t += server.random.int(100, 1500);
    const sender = server.random.chance(0.06)
      ? ''
      : `${server.externalLocalPart()}@${server.random.pick(server.population.externalDomains).name}`;
    const recipients = server.hostedRecipients(
      server.random.chance(0.85) ? 1 : server.random.int(2, 5),
    );
    mail[0]++;
    mail[1]++;

    // A mistyped address is rejected at RCPT time and the rest of the message goes through.
    if (server.random.chance(0.05)) {
      const unknown = `${server.externalLocalPart()}@${server.random.pick(server.population.mailboxes).address.split('@')[1]}`;
      server.stage(
        t,
        `${program}: NOQUEUE: reject: RCPT from ${clientText}: 550 5.1.1 <${unknown}>: Recipient address rejected: User unknown in virtual mailbox table; from=<${sender}> to=<${unknown}> proto=ESMTP helo=<${client.clientName === 'unknown' ? botHelo(server.random) : client.clientName}>`,
      );
      rcpt[1]++;
    }

    const queueId = server.queueIds.next();
    server.stage(t, `${program}: ${queueId}: client=${clientText}`);
    rcpt[0] += recipients.length;
    rcpt[1] += recipients.length;
    data[0]++;
    data[1]++;

    const domain = sender === '' ? client.clientName : sender.split('@')[1];
    t = stageAcceptedMessage(server, t, {
      queueId,
      sender,
      recipients,
      messageId: `<${server.random.hex(16)}@${domain}>`,
      tally: null,
    });
  }

  t += server.random.int(10, 300);
  Object.assign(counts, { mail, rcpt, data });
  server.stage(t, `${program}: disconnect from ${clientText} ${disconnectCounters(counts)}`);
  server.pool('postfix/smtpd').release(pid, t);
  server.commit();
}

export function planRejected(server: MailServer, start: number): void {
  const client = server.random.pick(server.population.inboundClients);
  server.lastPort25Client = client.clientIp;
  const kind = server.random.next();
  if (kind < 0.55) {
    planPostscreenReject(server, start, client);
    return;
  }

  const clientText = `${client.clientName}[${client.clientIp}]`;
  let t = stagePostscreenPass(server, start, client.clientIp);
  const pid = server.pool('postfix/smtpd').acquire(t);
  const program = `postfix/smtpd[${pid}]`;
  server.stage(t, `${program}: connect from ${clientText}`);
  t += server.random.int(100, 2000);

  const sender = `${server.externalLocalPart()}@${server.random.pick(server.population.externalDomains).name}`;
  const helo = client.clientName === 'unknown' ? botHelo(server.random) : client.clientName;
  const attempts = server.random.int(1, 3);
  for (let i = 0; i < attempts; i++) {
    const relay = server.random.chance(0.5);
    const target = relay
      ? `${server.externalLocalPart()}@${server.random.pick(server.population.externalDomains).name}`
      : `${server.externalLocalPart()}@${server.random.pick(server.population.mailboxes).address.split('@')[1]}`;
    const reason = relay
      ? `454 4.7.1 <${target}>: Relay access denied`
      : `550 5.1.1 <${target}>: Recipient address rejected: User unknown in virtual mailbox table`;
    server.stage(
      t,
      `${program}: NOQUEUE: reject: RCPT from ${clientText}: ${reason}; from=<${sender}> to=<${target}> proto=ESMTP helo=<${helo}>`,
    );
    t += server.random.int(50, 800);
  }

  const counts: CommandCounts = {
    ehlo: 1,
    mail: [1, 1],
    rcpt: [0, attempts],
    quit: server.random.chance(0.7) ? 1 : 0,
  };
  if (counts.quit === 0)
    server.stage(t, `${program}: lost connection after RCPT from ${clientText}`);
  server.stage(t, `${program}: disconnect from ${clientText} ${disconnectCounters(counts)}`);
  server.pool('postfix/smtpd').release(pid, t);
  server.commit();
}

function planPostscreenReject(server: MailServer, start: number, client: Attacker): void {
  const port = server.random.int(1024, 65535);
  const peer = formatPeer(client.clientIp, port);
  const program = `postfix/postscreen[${server.postscreenPid}]`;
  const local = client.clientIp.includes(':')
    ? formatPeer(SERVER_IPV6, 25)
    : formatPeer(SERVER_IP, 25);
  let t = start;
  server.stage(t, `${program}: CONNECT from ${peer} to ${local}`);

  if (server.random.chance(0.6)) {
    t += server.random.int(10, 200);
    server.stage(t, `${program}: DNSBL rank ${server.random.int(2, 8)} for ${peer}`);
    t += 6 * SECOND + server.random.int(0, 400);
    const sender = `${server.externalLocalPart()}@${server.random.pick(server.population.externalDomains).name}`;
    const target = server.random.pick(server.population.mailboxes).address;
    server.stage(
      t,
      `${program}: NOQUEUE: reject: RCPT from ${peer}: 550 5.7.1 Service unavailable; client [${client.clientIp}] blocked using dnsbl.example.net; from=<${sender}>, to=<${target}>, proto=ESMTP, helo=<${botHelo(server.random)}>`,
    );
  } else {
    t += server.random.int(50, 300);
    server.stage(
      t,
      `${program}: PREGREET 11 after 0.${server.random.int(10, 99)} from ${peer}: EHLO ${botHelo(server.random)}\\r\\n`,
    );
  }

  t += server.random.int(10, 3000);
  server.stage(t, `${program}: DISCONNECT ${peer}`);
  server.commit();
}

export function planLostConnection(server: MailServer, start: number): void {
  const client = server.random.chance(0.5)
    ? server.random.pick(server.population.inboundClients)
    : server.random.pick(server.population.attackers);
  const clientText = `${client.clientName}[${client.clientIp}]`;
  let t = stagePostscreenPass(server, start, client.clientIp);
  const pid = server.pool('postfix/smtpd').acquire(t);
  const program = `postfix/smtpd[${pid}]`;
  server.stage(t, `${program}: connect from ${clientText}`);

  const after = server.random.pick(['CONNECT', 'EHLO', 'EHLO', 'STARTTLS', 'UNKNOWN']);
  t += after === 'CONNECT' ? 300 * SECOND : server.random.int(100, 5000);
  const counts: CommandCounts = {};
  if (after === 'STARTTLS') {
    counts.ehlo = 1;
    counts.starttls = 1;
    server.stage(t, `${program}: SSL_accept error from ${clientText}: lost connection`);
  } else if (after === 'EHLO') {
    counts.ehlo = 1;
  } else if (after === 'UNKNOWN') {
    server.stage(t, `${program}: warning: non-SMTP command from ${clientText}: GET / HTTP/1.1`);
  }

  const verb = after === 'CONNECT' ? 'timeout' : 'lost connection';
  if (after !== 'UNKNOWN') server.stage(t, `${program}: ${verb} after ${after} from ${clientText}`);
  let text = `${program}: disconnect from ${clientText} ${disconnectCounters(counts)}`;
  if (after === 'UNKNOWN')
    text = `${program}: disconnect from ${clientText} unknown=0/1 commands=0/1`;
  server.stage(t, text);
  server.pool('postfix/smtpd').release(pid, t);
  server.commit();
}

function formatPeer(ip: string, port: number): string {
  return `[${ip}]:${port}`;
}
