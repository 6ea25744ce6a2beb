/**
 * The people, devices, correspondents and attackers of one simulated mail server. Every address
 * is in the documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (RFC 5737) and
 * 2001:db8::/32 (RFC 3849), and every domain is example.org, example.com, example.net or a
 * subdomain of them (RFC 2606).
 */
import { Random, WeightedPicker, weighted } from './random.js';

export type SmtpdService = 'postfix/smtpd' | 'postfix/submission/smtpd' | 'postfix/smtps/smtpd';
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
export type Transport = 'lmtp' | 'virtual';

/** One mail client of an account: a phone, a laptop at home, an office PC, a scanner. */
export interface Device {
  clientIp: string;
  clientName: string;
  service: SmtpdService;
  /** `null` for a client that authenticates without STARTTLS. */
  tlsProtocol: TlsVersion | null;
  saslMethod: string;
}

export interface Account {
  /** The SASL login as Postfix logs it in `sasl_username`. */
  login: string;
  address: string;
  /** Envelope senders this account uses: its own address first, then shared addresses. */
  senders: string[];
  devices: Device[];
  devicePicker: WeightedPicker<Device>;
}

export interface ExternalDomain {
  name: string;
  mxName: string;
  mxIp: string;
}

export interface Attacker {
  clientIp: string;
  clientName: string;
}

export const SERVER_HOSTNAME = 'mail1';
export const SERVER_FQDN = 'mail1.example.org';
export const SERVER_IP = '192.0.2.1';

/** Hosted domains, their share of accounts and the transport that delivers to their mailboxes. */
const HOSTED_DOMAINS: ReadonlyArray<readonly [string, number, Transport]> = [
  ['example.org', 35, 'lmtp'],
  ['example.com', 25, 'virtual'],
  ['example.net', 20, 'lmtp'],
  ['staff.example.org', 8, 'lmtp'],
  ['sales.example.com', 7, 'virtual'],
  ['eu.example.net', 5, 'lmtp'],
];

const FIRST_NAMES = (
  'anna ben carla david eva felix greta hugo ida jonas karin lars mia nils olga paul ' +
  'quinn rosa sven tina ulf vera walt xenia yann zoe adam bea chris dora emil frida ' +
  'gustav hanna igor julia kai lena max nora otto pia rolf sara tom uma viktor wilma ' +
  'alex britt conrad dana erik fiona georg helga ivan jana karl lotte'
).split(' ');

const LAST_NAMES = (
  'berg dahl ek falk gran holm isak jung krog lind moll nord olsen park quist rask ' +
  'strand thal unger vik wall young zell ahl brandt claes dorn engel fors gates hahn ' +
  'ivers jansen kern lund mayer nagel ortmann pohl rhode sand tell ulrich voss weber ' +
  'xander york zander adler beck colm dietz eich fink gross haas imhof jahn kunz lang'
).split(' ');

const SHARED_LOCAL_PARTS = ['info', 'sales', 'support', 'office', 'billing', 'team', 'hr', 'press'];

const SERVICE_ACCOUNTS =
  'noreply alerts scanner invoices newsletter monitoring backup crm shop printer'.split(' ');

const EXTERNAL_WORDS = (
  'partner supplier bank shop agency school club clinic studio city lab travel media ' + 'law farm'
).split(' ');

const TLS_OF_PEOPLE = weighted<TlsVersion | null>([
  ['TLSv1.3', 62],
  ['TLSv1.2', 29],
  ['TLSv1.1', 2],
  ['TLSv1', 4],
  [null, 3],
]);

const TLS_OF_MACHINES = weighted<TlsVersion | null>([
  ['TLSv1.3', 20],
  ['TLSv1.2', 45],
  ['TLSv1.1', 5],
  ['TLSv1', 15],
  [null, 15],
]);

const SERVICES = weighted<SmtpdService>([
  ['postfix/submission/smtpd', 70],
  ['postfix/smtps/smtpd', 27],
  ['postfix/smtpd', 3],
]);

const SASL_METHODS = weighted<string>([
  ['PLAIN', 80],
  ['LOGIN', 19],
  ['CRAM-MD5', 1],
]);

export class Population {
  readonly accounts: Account[] = [];
  readonly accountPicker: WeightedPicker<Account>;
  /** Hosted addresses that receive inbound mail, with the transport of their domain. */
  readonly mailboxes: Array<{ address: string; transport: Transport }> = [];
  readonly externalDomains: ExternalDomain[] = [];
  readonly attackers: Attacker[] = [];
  /** Port-25 clients: other mail servers and bots. */
  readonly inboundClients: Attacker[] = [];

  private readonly usedIps = new Set<string>();

  constructor(
    private readonly random: Random,
    accountCount: number,
  ) {
    this.createExternalDomains(400);
    this.createAccounts(accountCount);
    this.accountPicker = new WeightedPicker(
      this.accounts,
      this.accounts.map((account, index) => this.activityWeight(account, index)),
    );
    this.createAttackers(600);
    this.createInboundClients(1500);
  }

  transportOf(address: string): Transport {
    const domain = address.slice(address.indexOf('@') + 1);
    const hosted = HOSTED_DOMAINS.find(([name]) => name === domain);
    return hosted ? hosted[2] : 'lmtp';
  }

  private createAccounts(count: number): void {
    const domainPicker = weighted(HOSTED_DOMAINS.map(([name, share]) => [name, share] as const));
    const usedAddresses = new Set<string>();

    for (const local of SERVICE_ACCOUNTS) {
      for (const [domain] of HOSTED_DOMAINS.slice(0, 3)) {
        this.addAccount(`${local}@${domain}`, `${local}@${domain}`, true);
        usedAddresses.add(`${local}@${domain}`);
      }
    }

    while (this.accounts.length < count) {
      const local = `${this.random.pick(FIRST_NAMES)}.${this.random.pick(LAST_NAMES)}`;
      const domain = domainPicker.pick(this.random);
      const address = `${local}@${domain}`;
      if (usedAddresses.has(address)) continue;
      usedAddresses.add(address);

      // Some sites authenticate system users by bare name while mail goes out from the domain.
      const login = domain === 'example.org' && this.random.chance(0.25) ? local : address;
      this.addAccount(login, address, false);
    }
  }

  private addAccount(login: string, address: string, isMachine: boolean): void {
    const domain = address.slice(address.indexOf('@') + 1);
    const senders = [address];
    if (!isMachine && this.random.chance(0.12)) {
      senders.push(`${this.random.pick(SHARED_LOCAL_PARTS)}@${domain}`);
    }
    if (!isMachine && this.random.chance(0.03)) {
      const other = this.random.pick(HOSTED_DOMAINS)[0];
      senders.push(`${address.slice(0, address.indexOf('@'))}@${other}`);
    }

    const devices = this.createDevices(isMachine);
    const deviceWeights = devices.map((_, index) => (index === 0 ? 6 : 2));
    this.accounts.push({
      login,
      address,
      senders,
      devices,
      devicePicker: new WeightedPicker(devices, deviceWeights),
    });
    this.mailboxes.push({ address, transport: this.transportOf(address) });
  }

  private createDevices(isMachine: boolean): Device[] {
    const count = isMachine
      ? 1
      : weighted([
          [1, 50],
          [2, 30],
          [3, 15],
          [4, 5],
        ] as const).pick(this.random);
    const devices: Device[] = [];
    for (let i = 0; i < count; i++) {
      let tlsProtocol = (isMachine ? TLS_OF_MACHINES : TLS_OF_PEOPLE).pick(this.random);
      let service = SERVICES.pick(this.random);

      // Port 465 is TLS from the first byte, so a client without TLS must use 587 or 25.
      if (service === 'postfix/smtps/smtpd' && tlsProtocol === null)
        service = 'postfix/submission/smtpd';
      if (service === 'postfix/smtps/smtpd' && tlsProtocol === 'TLSv1.1') tlsProtocol = 'TLSv1.2';

      const { clientIp, clientName } = this.deviceAddress();
      devices.push({
        clientIp,
        clientName,
        service,
        tlsProtocol,
        saslMethod: SASL_METHODS.pick(this.random),
      });
    }
    return devices;
  }

  private deviceAddress(): Attacker {
    const kind = this.random.next();
    if (kind < 0.25) {
      const clientIp = this.uniqueIpv6('2001:db8');
      return {
        clientIp,
        clientName: this.random.chance(0.6)
          ? 'unknown'
          : `host-${this.random.hex(6)}.dyn.example.net`,
      };
    }
    if (kind < 0.4) {
      // Office NAT addresses are shared by many accounts, as behind a real office gateway.
      const clientIp = `192.0.2.${this.random.int(16, 47)}`;
      return {
        clientIp,
        clientName: `gw${clientIp.slice(clientIp.lastIndexOf('.') + 1)}.office.example.org`,
      };
    }

    const clientIp = this.random.chance(0.6)
      ? `198.51.100.${this.random.int(2, 199)}`
      : `203.0.113.${this.random.int(2, 127)}`;
    const dashed = clientIp.replaceAll('.', '-');
    const clientName = this.random.chance(0.35) ? 'unknown' : `dsl-${dashed}.isp.example.com`;
    return { clientIp, clientName };
  }

  /** Heavy-tailed activity: a few accounts and the machine accounts send most of the mail. */
  private activityWeight(account: Account, index: number): number {
    const isMachine = index < SERVICE_ACCOUNTS.length * 3;
    return isMachine ? this.random.logNormal(8, 1) : this.random.logNormal(1, 1.1);
  }

  private createExternalDomains(count: number): void {
    for (let i = 0; i < count; i++) {
      const name = `${this.random.pick(EXTERNAL_WORDS)}${i + 1}.${this.random.pick(['example.com', 'example.net', 'example.org'])}`;
      const mxIp = this.random.chance(0.15)
        ? `2001:db8:25:${(i + 1).toString(16)}::25`
        : `203.0.113.${this.random.int(2, 250)}`;
      this.externalDomains.push({ name, mxName: `mx${this.random.int(1, 3)}.${name}`, mxIp });
    }
  }

  private createAttackers(count: number): void {
    for (let i = 0; i < count; i++) {
      const clientIp = this.random.chance(0.2)
        ? this.uniqueIpv6('2001:db8:bad')
        : `${this.random.pick(['203.0.113', '198.51.100'])}.${this.random.int(128, 254)}`;
      this.attackers.push({ clientIp, clientName: 'unknown' });
    }
  }

  private createInboundClients(count: number): void {
    for (let i = 0; i < count; i++) {
      const domain = this.random.pick(this.externalDomains);
      const isServer = this.random.chance(0.7);
      if (isServer) {
        this.inboundClients.push({
          clientIp: domain.mxIp,
          clientName: `out${this.random.int(1, 4)}.${domain.name}`,
        });
        continue;
      }
      const clientIp = this.random.chance(0.15)
        ? this.uniqueIpv6('2001:db8:f00')
        : `${this.random.pick(['203.0.113', '198.51.100'])}.${this.random.int(2, 254)}`;
      this.inboundClients.push({ clientIp, clientName: 'unknown' });
    }
  }

  /** Returns a new address in the given prefix, in the RFC 5952 form that Postfix logs. */
  private uniqueIpv6(prefix: string): string {
    for (;;) {
      const groups = prefix === '2001:db8' ? 2 : 1;
      const parts: string[] = [];
      for (let i = 0; i < groups; i++) parts.push(this.random.int(1, 0xffff).toString(16));
      const ip = `${prefix}:${parts.join(':')}::${this.random.int(1, 0xffff).toString(16)}`;
      if (!this.usedIps.has(ip)) {
        this.usedIps.add(ip);
        return ip;
      }
    }
  }
}
