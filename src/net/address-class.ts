/**
 * Which class of network an IP address belongs to, so a crawl started on the
 * public network never turns into requests to loopback, private or link-local
 * addresses (and the other way round). Pure: no DNS, no sockets.
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * - `loopback`: this machine (127.0.0.0/8, ::1, and the unspecified 0.0.0.0/8
 *   and ::, which connect to this machine too);
 * - `private`: not globally reachable: RFC 1918 (10/8, 172.16/12, 192.168/16),
 *   shared address space 100.64/10, IPv6 unique local fc00::/7 and site-local
 *   fec0::/10, and the special-purpose blocks that are never public
 *   (192.0.0/24, 192.0.2/24, 198.18/15, 198.51.100/24, 203.0.113/24, 240/4,
 *   multicast 224/4 and ff00::/8, 2001:db8::/32, 100::/64);
 * - `link-local`: 169.254/16, fe80::/10;
 * - `public`: everything else.
 */
export type AddressClass = 'loopback' | 'private' | 'link-local' | 'public';

/** Every {@link AddressClass}. */
export const ADDRESS_CLASSES: readonly AddressClass[] = ['loopback', 'private', 'link-local', 'public'];

/**
 * The class of an IP address (IPv4 dotted quad, or IPv6 with an optional
 * `%zone`, brackets allowed), or undefined when `address` is not one. An IPv6
 * address carrying an IPv4 one (v4-mapped `::ffff:a.b.c.d`, v4-compatible
 * `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) takes the class of the
 * IPv4 address, since that is where the packets go.
 */
export function addressClass(address: string): AddressClass | undefined {
  let text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (isIPv4(text)) return ipv4Class(ipv4Bytes(text));
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (!isIPv6(text)) return undefined;
  return ipv6Class(ipv6Words(text));
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

function ipv4Class([a, b, c]: number[]): AddressClass {
  if (a === 127 || a === 0) return 'loopback';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 100 && b! >= 64 && b! <= 127) return 'private';
  if (a! >= 224) return 'private'; // multicast 224/4, reserved 240/4, broadcast
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return 'private';
  if (a === 198 && (b === 18 || b === 19)) return 'private';
  if ((a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)) return 'private';
  return 'public';
}

/** The eight 16-bit words of a valid IPv6 address (a trailing dotted quad becomes the last two). */
function ipv6Words(text: string): number[] {
  let tail: number[] = [];
  let head = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const [a, b, c, d] = ipv4Bytes(text.slice(lastColon + 1));
    tail = [(a! << 8) | b!, (c! << 8) | d!];
    head = text.slice(0, lastColon + 1);
    if (head.endsWith('::')) head += '0';
    else head = head.slice(0, -1);
  }
  const [left, right] = head.includes('::') ? head.split('::') as [string, string] : [head, undefined];
  const parse = (part: string | undefined): number[] => (part ? part.split(':').filter((w) => w !== '').map((w) => parseInt(w, 16)) : []);
  const l = parse(left);
  const r = right === undefined ? [] : parse(right);
  const missing = 8 - tail.length - l.length - r.length;
  const words = right === undefined ? [...l, ...tail] : [...l, ...new Array<number>(Math.max(0, missing)).fill(0), ...r, ...tail];
  return words.slice(0, 8);
}

function ipv6Class(w: number[]): AddressClass {
  const embedded = (hi: number, lo: number): AddressClass => ipv4Class([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const zeroUpTo = (n: number): boolean => w.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(7) && (w[7] === 1 || w[7] === 0)) return 'loopback'; // ::1 and ::
  if (zeroUpTo(5) && w[5] === 0xffff) return embedded(w[6]!, w[7]!); // v4-mapped
  if (zeroUpTo(6)) return embedded(w[6]!, w[7]!); // v4-compatible (deprecated)
  if (w[0] === 0x64 && w[1] === 0xff9b && w.slice(2, 6).every((x) => x === 0)) return embedded(w[6]!, w[7]!); // NAT64
  if (w[0] === 0x2002) return embedded(w[1]!, w[2]!); // 6to4
  const first = w[0]!;
  if ((first & 0xffc0) === 0xfe80) return 'link-local';
  if ((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfec0) return 'private';
  if ((first & 0xff00) === 0xff00) return 'private'; // multicast
  if (first === 0x2001 && w[1] === 0x0db8) return 'private'; // documentation
  if (first === 0x0100 && w[1] === 0 && w[2] === 0 && w[3] === 0) return 'private'; // discard-only
  return 'public';
}
