/**
 * A {@link TrustStore} kept in memory: TOFU with the same policy as the
 * known-hosts file, for a program (a server, a test, a one-off script) that
 * must not write the user's `~/.local/share/gemfetch/known_hosts`. Its pins
 * live as long as the object.
 */
import { AbortError, InvalidOptionError, KnownHostsError } from '../errors.js';
import { canonicalHostPort, isValidEntry, type KnownHost } from './known-hosts-format.js';
import { decideTrust, type PresentedCertificate, type TrustDecision, type TrustStore } from './trust-store.js';

/** Default bound of a {@link MemoryTrustStore}: pins held at most. */
export const DEFAULT_MEMORY_STORE_MAX_PINS = 100_000;

/** Options of a {@link MemoryTrustStore}. */
export interface MemoryTrustStoreOptions {
  /** Pins to start with (e.g. read from a configuration); validated as `pin()` does. */
  pins?: Iterable<KnownHost>;
  /**
   * Most pins held (default {@link DEFAULT_MEMORY_STORE_MAX_PINS}). When full,
   * a host not pinned yet is refused (`ERR_KNOWN_HOSTS`), never let in
   * unpinned, and no old pin is dropped (that would make its host a first
   * use again).
   */
  maxPins?: number;
}

/**
 * TOFU pins per `host:port` in memory. `verify` applies the same policy as
 * the known-hosts file ({@link decideTrust}); `get`, `pin`, `forget` and
 * `list` manage the pins. Memory is bounded by `maxPins`. Use it with
 * `new Client({ knownHosts: new MemoryTrustStore() })`.
 */
export class MemoryTrustStore implements TrustStore {
  /** Always undefined: the pins are in no file. */
  readonly path: undefined = undefined;
  /** Most pins held. */
  readonly maxPins: number;
  readonly #pins = new Map<string, KnownHost>();

  /** @throws InvalidOptionError for a bad `maxPins` or a malformed initial pin. */
  constructor(options: MemoryTrustStoreOptions = {}) {
    const max = options.maxPins ?? DEFAULT_MEMORY_STORE_MAX_PINS;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new InvalidOptionError(`MemoryTrustStore maxPins must be a whole number, 1 or more (got ${String(max)})`);
    }
    this.maxPins = max;
    for (const entry of options.pins ?? []) this.#set(validated(entry));
  }

  /** Decides trust as the known-hosts file does, recording a new or renewed pin. Rejects with CertificateError `ERR_CERT_MISMATCH` for a changed key. */
  async verify(hostPort: string, presented: PresentedCertificate, now: Date = new Date(), options: { signal?: AbortSignal | undefined } = {}): Promise<TrustDecision> {
    const cert = { ...presented, fingerprint: String(presented.fingerprint).toLowerCase() };
    validated({ hostPort, fingerprint: cert.fingerprint, expires: cert.expires, added: now });
    const { decision, write } = decideTrust(hostPort, this.#pins.get(hostPort), cert, now);
    if (write) {
      if (options.signal?.aborted) throw new AbortError({ cause: options.signal.reason });
      this.#set(write);
    }
    return decision;
  }

  /** The pin of `hostPort` (a copy), or undefined. */
  async get(hostPort: string): Promise<KnownHost | undefined> {
    const pin = this.#pins.get(canonicalHostPort(hostPort) ?? hostPort);
    return pin && copy(pin);
  }

  /** Inserts or replaces a pin. @throws InvalidOptionError for a malformed entry; KnownHostsError when full. */
  async pin(entry: KnownHost): Promise<void> {
    this.#set(validated(entry));
  }

  /** Removes the pin of `hostPort`; resolves to whether there was one. */
  async forget(hostPort: string): Promise<boolean> {
    return this.#pins.delete(canonicalHostPort(hostPort) ?? hostPort);
  }

  /** Every pin (copies), oldest first. */
  async list(): Promise<KnownHost[]> {
    return [...this.#pins.values()].map(copy);
  }

  #set(entry: KnownHost): void {
    if (!this.#pins.has(entry.hostPort) && this.#pins.size >= this.maxPins) {
      throw new KnownHostsError(`in-memory trust store is full (${this.maxPins} pins): ${entry.hostPort} is not trusted on first use`, { path: '' });
    }
    this.#pins.set(entry.hostPort, entry);
  }
}

function validated(e: KnownHost): KnownHost {
  const hostPort = canonicalHostPort(e.hostPort);
  const clean = { ...e, hostPort: hostPort ?? e.hostPort, fingerprint: typeof e.fingerprint === 'string' ? e.fingerprint.toLowerCase() : e.fingerprint };
  if (hostPort === undefined || !isValidEntry(clean)) {
    throw new InvalidOptionError(
      `invalid trust store entry for ${JSON.stringify(e.hostPort)}: need HOST:PORT (IPv6 in brackets), a 64-hex-digit SHA-256 fingerprint and valid dates`,
    );
  }
  return copy(clean);
}

function copy(e: KnownHost): KnownHost {
  return { hostPort: e.hostPort, fingerprint: e.fingerprint, expires: new Date(e.expires), added: new Date(e.added) };
}
