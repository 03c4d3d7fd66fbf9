/**
 * A DNS cache for a client's connections: a `lookup` function for
 * `net.connect` that answers repeated lookups of a host from memory for a
 * while (curl keeps answers 60 seconds by default too). Bulk fetches and
 * crawls connect to the same hosts over and over; each lookup otherwise costs
 * a resolver round trip, or at least a trip through the thread pool.
 */
import dns from 'node:dns';
import type * as net from 'node:net';
import { BoundedCache } from './bounded-cache.js';

/** A resolver with the signature of `dns.lookup` (what `net.connect` takes as `lookup`). */
export type LookupFunction = net.LookupFunction;

/** How long an answer is reused by default, in milliseconds. */
export const DEFAULT_DNS_CACHE_TTL = 60_000;
/** Most host names a cache holds; the least recently used one goes first. */
export const MAX_DNS_CACHE_ENTRIES = 10_000;

type Callback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

interface Waiter {
  options: dns.LookupOptions;
  callback: Callback;
}

interface Entry {
  /** `performance.now()` when the resolver was asked. */
  startedAt: number;
  /** `performance.now()` when the answer arrived; undefined while the lookup runs. */
  resolvedAt: number | undefined;
  addresses: dns.LookupAddress[];
  /** Lookups waiting for the one in flight (concurrent connections to one host resolve it once). */
  waiters: Waiter[];
}

let nextResolverId = 1;
const resolverIds = new WeakMap<LookupFunction, number>();
const resolverId = (resolve: LookupFunction): number => {
  let id = resolverIds.get(resolve);
  if (id === undefined) resolverIds.set(resolve, (id = nextResolverId++));
  return id;
};

/**
 * Remembers successful lookups. Guarantees: an answer is reused only while
 * younger than the `ttl` of the lookup asking (so a shorter TTL on one request
 * is honoured); failures are never cached (the next connection asks again);
 * concurrent lookups of one name share one resolution, unless it has been
 * running longer than the `ttl` (then the resolver is asked again); a
 * resolver that throws fails that lookup only; at most `maxEntries`
 * names are held (the least recently used goes first). Answers are keyed by
 * resolver, name and every lookup option that changes the answer (family,
 * hints, order). Not guaranteed: the records'
 * own DNS TTLs (`dns.lookup` does not report them).
 */
export class DnsCache {
  readonly #entries: BoundedCache<string, Entry>;

  constructor(maxEntries = MAX_DNS_CACHE_ENTRIES) {
    this.#entries = new BoundedCache(maxEntries);
  }

  /** Names held (answers and lookups in flight). */
  get size(): number {
    return this.#entries.size;
  }

  /** A `lookup` for `net.connect` that answers from this cache, asking `resolve` on a miss. `ttl` 0 bypasses the cache. */
  lookupFunction(resolve: LookupFunction = dns.lookup, ttl = DEFAULT_DNS_CACHE_TTL): LookupFunction {
    if (!(ttl > 0)) return resolve;
    return ((hostname: string, options: dns.LookupOptions, callback: Callback) =>
      this.#lookup(resolve, ttl, hostname, options, callback)) as LookupFunction;
  }

  #lookup(resolve: LookupFunction, ttl: number, hostname: string, options: dns.LookupOptions, callback: Callback): void {
    const key = `${resolverId(resolve)} ${options.family ?? 0} ${options.hints ?? 0} ${options.order ?? options.verbatim ?? ''} ${hostname}`;
    const now = performance.now();
    const entry = this.#entries.get(key);
    if (entry?.resolvedAt !== undefined && now - entry.resolvedAt < ttl) {
      // Asynchronously, as a real lookup answers: net.connect expects its callback later.
      process.nextTick(answer, options, callback, entry.addresses);
      return;
    }
    // Join a lookup in flight, unless it has been stuck longer than the TTL: then ask again.
    if (entry && entry.resolvedAt === undefined && now - entry.startedAt < ttl) {
      entry.waiters.push({ options, callback });
      return;
    }
    const fresh: Entry = { startedAt: now, resolvedAt: undefined, addresses: [], waiters: [{ options, callback }] };
    this.#entries.set(key, fresh);
    const settle = (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]): void => {
      const waiters = fresh.waiters;
      fresh.waiters = [];
      if (!err && addresses.length === 0) err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
      if (err) {
        if (this.#entries.get(key) === fresh) this.#entries.delete(key);
        for (const waiter of waiters) waiter.callback(err, '');
        return;
      }
      fresh.resolvedAt = performance.now();
      fresh.addresses = addresses;
      for (const waiter of waiters) answer(waiter.options, waiter.callback, addresses);
    };
    const { all: _all, ...rest } = options;
    try {
      resolve(hostname, { ...rest, all: true }, settle as never);
    } catch (err) {
      // A resolver that throws fails this lookup only, like one that answers an error.
      process.nextTick(settle, err as NodeJS.ErrnoException, []);
    }
  }
}

function answer(options: dns.LookupOptions, callback: Callback, addresses: dns.LookupAddress[]): void {
  if (options.all) callback(null, addresses);
  else callback(null, addresses[0]!.address, addresses[0]!.family);
}
