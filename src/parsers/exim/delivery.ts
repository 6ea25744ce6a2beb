/**
 * Delivery lines of a message, after its id. The flag shows what happened to one address:
 *
 *   =>  delivered            ->  delivered in the same transport run as the line before
 *   >>  delivered by cutthrough (logged before the arrival line)
 *   *>  delivery suppressed by -N
 *   **  failed, bounced      ==  deferred, to be tried again
 *
 * An address that a router rewrote (an alias, a forward, a :blackhole: redirect) is followed
 * by the envelope recipient it came from in angle brackets, after any parents in parentheses
 * (`log_selector = +all_parents`):
 *
 *   => :blackhole: <ops@example.org> R=discard_everything
 *   => alice <team@example.org> R=localuser T=local_delivery
 *   => |/usr/bin/vacation alice (alice@example.org) <alice@example.org> R=... T=...
 *   => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [192.0.2.25] C="250 OK"
 *   ** ghost@example.net R=unknown_mailbox: no such mailbox
 */

export type DeliveryFlag = '=>' | '->' | '>>' | '*>' | '**' | '==';

const FLAGS = new Set<string>(['=>', '->', '>>', '*>', '**', '==']);

/** Read the delivery flag at `start`, which a space must follow; null when there is none. */
export function deliveryFlagAt(text: string, start: number): DeliveryFlag | null {
  if (text.charCodeAt(start + 2) !== 32) return null;
  const flag = text.substring(start, start + 2);
  return FLAGS.has(flag) ? (flag as DeliveryFlag) : null;
}

/** Check whether a flag ends its address: delivered, suppressed or failed. */
export function isFinalDelivery(flag: DeliveryFlag): boolean {
  return flag !== '==';
}

/** The envelope recipient in angle brackets, where a field, the error or the line's end follows. */
const ORIGINAL_RECIPIENT = / <([^<>\s]+)>(?= [A-Z][A-Za-z0-9]*=|:|$)/;

/**
 * Find the envelope recipient of a delivery line, lower-cased so that the copies of one
 * address count once; null when the line names none. `start` is the index after the flag.
 */
export function recipientOfDelivery(text: string, start: number): string | null {
  const rest = text.substring(start);
  const original = ORIGINAL_RECIPIENT.exec(rest);
  if (original) return original[1].toLowerCase();

  const space = rest.indexOf(' ');
  const address = space < 0 ? rest : rest.substring(0, space);
  // A message whose recipients an ACL discarded: `=> blackhole (DATA ACL discarded recipients)`.
  if (address === 'blackhole' && rest.startsWith('blackhole (')) return null;

  const bare = address.endsWith(':') ? address.slice(0, -1) : address;
  return bare === '' ? null : bare.toLowerCase();
}
