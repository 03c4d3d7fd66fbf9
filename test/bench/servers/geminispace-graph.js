/**
 * The simulated Geminispace of bench case 8 (issue 12, scale), as pure functions shared by the
 * server (geminispace-sim.js), the crawl driver (drivers/scale-crawl.js) and the tests.
 *
 * Capsule i (0 <= i < hosts) is named `c<i>.gemini.test` and lives on loopback address
 * `addresses[i % addresses.length]` (names are mapped to addresses by a lookup hook, never by real
 * DNS). Its URLs are `/` and `/p/0` .. `/p/<pages-1>`: hosts x (pages + 1) URLs in all, none stored:
 * each page's links are generated from (capsule, page) by a hash, so every run sees the same graph.
 * A page links to its capsule's root and to `links` pages: a share `cross` of them on other capsules.
 */

/** Default shape: 4,000 capsules x 400 pages = 1.6 million URLs, 20 links a page. */
export const FULL = Object.freeze({ hosts: 4000, pages: 400, links: 20, cross: 0.5 });

/** 32-bit mix of three integers (murmur3's finaliser over a running hash). */
export function mix(a, b, c) {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35) ^ Math.imul(c + 0x165667b1, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Host name of capsule i. */
export const hostName = (i) => `c${i}.gemini.test`;

/** Capsule index of a host name, or -1. */
export function hostIndex(name, hosts) {
  const m = /^c(\d+)\.gemini\.test$/.exec(name);
  if (!m) return -1;
  const i = Number(m[1]);
  return i < hosts && String(i) === m[1] ? i : -1;
}

/** Page index of a path: -1 for `/`, 0.. for `/p/N`, undefined for anything else. */
export function pageIndex(path, pages) {
  if (path === '/') return -1;
  const m = /^\/p\/(\d+)$/.exec(path);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n < pages && String(n) === m[1] ? n : undefined;
}

/** The links of page n (-1: the root) of capsule h, as [capsule, page] pairs (page -1: a root). */
export function pageLinks(shape, h, n) {
  const out = [[h, -1]];
  for (let k = 0; k < shape.links; k++) {
    const r = mix(h, n + 1, k);
    const crossing = (r & 0xffff) < shape.cross * 0x10000;
    const target = crossing ? mix(h, n + 1, k + 0x10000) % shape.hosts : h;
    out.push([target, mix(target, n + 1, k + 0x20000) % shape.pages]);
  }
  return out;
}

/** A lookup function (the signature of dns.lookup) mapping capsule names to their loopback addresses; other names fail with ENOTFOUND. */
export function lookupFor(shape, addresses) {
  return (hostname, options, callback) => {
    if (typeof options === 'function') [options, callback] = [{}, options];
    const i = hostIndex(hostname, shape.hosts);
    if (i < 0) {
      const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
      process.nextTick(callback, err);
      return;
    }
    const address = addresses[i % addresses.length];
    if (options?.all) process.nextTick(callback, null, [{ address, family: 4 }]);
    else process.nextTick(callback, null, address, 4);
  };
}
