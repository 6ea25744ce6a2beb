import { isIPv4, isIPv6 } from 'node:net';

/**
 * The network of a client address: the /24 of an IPv4 address, the /48 of an IPv6 address
 * (the usual size of one site's assignment). Null for anything that is not an address.
 */
export function networkOf(ip: string): string | null {
  if (isIPv4(ip)) return `${ip.split('.').slice(0, 3).join('.')}.0/24`;
  if (!isIPv6(ip)) return null;

  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return networkOf(mapped[1]);

  const groups = ipv6Groups(ip);
  return `${groups
    .slice(0, 3)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/48`;
}

/** The eight 16-bit groups of a valid IPv6 address, `::` expanded. */
function ipv6Groups(ip: string): string[] {
  const split = (part: string) =>
    part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const [head, tail] = ip.split('::');
  if (tail === undefined) return split(head);

  const headGroups = split(head);
  const tailGroups = split(tail);
  const zeros = new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  return [...headGroups, ...zeros, ...tailGroups];
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses: clients on the mail host itself. */
export function isLoopback(ip: string): boolean {
  if (isIPv4(ip)) return ip.startsWith('127.');
  if (!isIPv6(ip)) return false;

  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return isLoopback(mapped[1]);
  return ipv6Groups(ip).every((group, i) => parseInt(group, 16) === (i === 7 ? 1 : 0));
}

/** The domain part of an address, lower-cased; null when it has none. */
export function domainOf(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at < 0 || at === address.length - 1) return null;
  return address.slice(at + 1).toLowerCase();
}

/** True when one domain equals the other or is a subdomain of it. */
export function sameOrganisation(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}
