/**
 * The crawl's address guard: a crawl follows links only to hosts whose
 * addresses are in the same class as its seeds' (see address-class.ts), so a
 * public seed never makes gemfetch request 10.x, 192.168.x, 127.x or ::1
 * (a capsule linking to its operator's router, or a name that resolves to a
 * private address), and a crawl of a local test network does not wander out.
 *
 * Checked after DNS resolution, twice: {@link AddressGuard.check} resolves a
 * host before anything is sent to it (robots.txt included) and refuses it when
 * any of its addresses is outside the allowed classes; and the `lookup` of
 * every request ({@link AddressGuard.lookupFunction}) fails when the answer
 * it is about to connect to is outside them, so a name whose DNS answer
 * changes between the two (DNS rebinding) is still refused. Through a proxy
 * (`requestOptions.proxy`) only the first check applies: every connection
 * then goes to the proxy the caller chose.
 */
import dns from 'node:dns';
import { ADDRESS_CLASSES, addressClass, type AddressClass } from '../net/address-class.js';
import type { LookupFunction } from '../net/dns-cache.js';
import type { GeminiUrl } from '../protocol/url.js';

/** Record error code of a URL whose host is in an address class the crawl does not reach (no request made). */
export const ERR_ADDRESS_REFUSED = 'ERR_ADDRESS_REFUSED';

/** Options of an {@link AddressGuard}. */
export interface AddressGuardOptions {
  /** Classes allowed besides the seeds' own (all four: no guard). */
  allow?: readonly AddressClass[];
  /** Resolver (the crawl's `requestOptions.lookup`); default `dns.lookup`. */
  lookup?: LookupFunction | undefined;
  /** Address family asked of the resolver (the crawl's `requestOptions.family`). */
  family?: 0 | 4 | 6 | undefined;
}

let classifierForTests: ((address: string) => AddressClass | undefined) | undefined;

/**
 * Test hook: classify addresses with `classify` instead of
 * {@link addressClass} (undefined restores it). The tests run every capsule
 * on loopback; this lets one of them stand for a public host. Not for
 * production use: it changes every guard in the process.
 */
export function setAddressClassifierForTests(classify: ((address: string) => AddressClass | undefined) | undefined): void {
  classifierForTests = classify;
}

function classOf(address: string): AddressClass | undefined {
  return (classifierForTests ?? addressClass)(address);
}

/**
 * The guard of one crawl. Memory: one cached verdict per host name (a
 * promise while its lookup runs). Never throws: a lookup failure is not a
 * refusal (the request then fails with `ERR_DNS` on its own).
 */
export class AddressGuard {
  readonly #allowed = new Set<AddressClass>();
  readonly #lookup: LookupFunction;
  readonly #family: 0 | 4 | 6;
  readonly #verdicts = new Map<string, Promise<string | undefined>>();
  readonly #ready: Promise<void>;
  /** Seed hosts that could not be resolved at the start: the classes of their first answer become allowed. */
  readonly #unresolvedSeeds = new Set<string>();

  /** Resolves the seeds' hosts at once (their classes become the allowed ones). */
  constructor(seeds: readonly GeminiUrl[], options: AddressGuardOptions = {}) {
    this.#lookup = options.lookup ?? (dns.lookup as unknown as LookupFunction);
    this.#family = options.family ?? 0;
    for (const c of options.allow ?? []) this.#allowed.add(c);
    const hosts = [...new Set(seeds.map((s) => s.host))];
    this.#ready = Promise.all(
      hosts.map(async (host) => {
        const addresses = await this.#resolve(host);
        if (addresses.length === 0) this.#unresolvedSeeds.add(host);
        for (const address of addresses) {
          const c = classOf(address);
          if (c !== undefined) this.#allowed.add(c);
        }
      }),
    ).then(() => undefined);
  }

  /** Whether every class is allowed (the guard refuses nothing). */
  get allowsAll(): boolean {
    return ADDRESS_CLASSES.every((c) => this.#allowed.has(c));
  }

  /** The allowed classes, once the seeds are resolved. */
  async allowedClasses(): Promise<AddressClass[]> {
    await this.#ready;
    return ADDRESS_CLASSES.filter((c) => this.#allowed.has(c));
  }

  /**
   * Undefined when `url`'s host may be requested, else why not (a message
   * naming the host, its address and class, and the allowed classes). Each
   * host name is resolved once per guard.
   */
  check(url: GeminiUrl): Promise<string | undefined> {
    let verdict = this.#verdicts.get(url.host);
    if (verdict === undefined) {
      verdict = this.#judge(url.host);
      this.#verdicts.set(url.host, verdict);
    }
    return verdict;
  }

  async #judge(host: string): Promise<string | undefined> {
    await this.#ready;
    if (this.allowsAll) return undefined;
    for (const address of await this.#resolve(host)) {
      const refusal = this.#refusal(host, address);
      if (refusal !== undefined) return refusal;
    }
    return undefined;
  }

  #refusal(host: string, address: string): string | undefined {
    const c = classOf(address);
    if (c === undefined || this.#allowed.has(c)) return undefined;
    if (this.#unresolvedSeeds.has(host)) {
      // a seed whose lookup failed at the start (a transient DNS failure) answers now: its class is a seed's class
      this.#allowed.add(c);
      return undefined;
    }
    const allowed = ADDRESS_CLASSES.filter((x) => this.#allowed.has(x));
    const where = host === address ? address : `${host} (${address})`;
    return `${where} is a ${c} address; this crawl reaches only ${allowed.length ? allowed.join(', ') : 'the classes of its seeds'} addresses, like its seeds (allow it with allowAddressClasses / --allow-address-class ${c})`;
  }

  /** Every address of `host` (itself for an IP literal); none when it cannot be resolved. */
  #resolve(host: string): Promise<string[]> {
    if (addressClass(host) !== undefined) return Promise.resolve([host]);
    return new Promise((resolve) => {
      try {
        this.#lookup(host, { all: true, family: this.#family }, (err, addresses) => {
          if (err || !Array.isArray(addresses)) resolve([]);
          else resolve(addresses.map((a) => a.address));
        });
      } catch {
        resolve([]);
      }
    });
  }

  /**
   * A `lookup` for the crawl's requests: answers as `inner` does, but fails
   * (code `ERR_ADDRESS_REFUSED`) when an address it answers is in a class
   * this guard does not allow, so the connection is never made.
   */
  lookupFunction(inner: LookupFunction | undefined): LookupFunction {
    const resolve = inner ?? (dns.lookup as unknown as LookupFunction);
    return ((hostname: string, options: dns.LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void) => {
      resolve(hostname, options, (err, address, family) => {
        if (err) return callback(err, address, family);
        const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
        for (const a of addresses) {
          const refusal = this.#refusal(hostname, a);
          if (refusal !== undefined) {
            return callback(Object.assign(new Error(refusal), { code: ERR_ADDRESS_REFUSED, hostname }), Array.isArray(address) ? [] : '', family);
          }
        }
        callback(null, address, family);
      });
    }) as LookupFunction;
  }
}
