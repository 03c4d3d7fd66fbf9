/**
 * Trust on first use (TOFU): a known-hosts file pinning one public key per
 * `host:port`, shared safely between concurrent gemfetch processes.
 *
 * File format, one entry per line:
 * `<host:port> <sha256-spki-hex> <expires ISO-8601> <added ISO-8601>`.
 * Blank lines, `#` comments and lines that do not parse are ignored when
 * reading and kept verbatim when the file is rewritten.
 */
import { createHash, randomBytes, type X509Certificate } from 'node:crypto';
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { CertificateError, InvalidOptionError, KnownHostsError } from './errors.js';

/** One pinned key. */
export interface KnownHost {
  /** `host:port`, e.g. `example.org:1965` or `[::1]:1965`. No whitespace. */
  hostPort: string;
  /** 64 lowercase hex chars: SHA-256 of the certificate's SubjectPublicKeyInfo (DER). */
  fingerprint: string;
  /** notAfter of the certificate that was pinned. */
  expires: Date;
  /** When the pin was first recorded. */
  added: Date;
}

/** Presented certificate facts, as the client computes them. */
export interface PresentedCertificate {
  /** SHA-256 of the presented certificate's SubjectPublicKeyInfo, as from {@link publicKeyFingerprint}. */
  fingerprint: string;
  /** notAfter of the presented certificate. */
  expires: Date;
  /** The chain validates against the system CAs for this host. */
  caVerified: boolean;
}

/**
 * Outcome of a trust check. {@link KnownHostsStore.verify} returns only
 * `first-use`, `match`, `repinned-expired` and `repinned-ca`; `ca` and
 * `insecure` are for clients that do not use TOFU.
 */
export type TrustDecision = 'first-use' | 'match' | 'repinned-expired' | 'repinned-ca' | 'ca' | 'insecure';

/** Tuning of the file lock guarding writes; the defaults suit normal use. */
export interface KnownHostsStoreOptions {
  /** A lock file not touched for this long is considered abandoned and broken. Default 10 000 ms. */
  lockStaleMs?: number;
  /** Give up (KnownHostsError) after waiting this long for the lock. Default 20 000 ms. */
  lockTimeoutMs?: number;
}

/**
 * Default known-hosts path: `$XDG_DATA_HOME/gemfetch/known_hosts` when
 * `XDG_DATA_HOME` is set to an absolute path (the XDG spec says to ignore
 * relative ones), else `~/.local/share/gemfetch/known_hosts` under `os.homedir()`.
 * Pure: touches no file.
 */
export function defaultKnownHostsPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  const dataHome = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share');
  return join(dataHome, 'gemfetch', 'known_hosts');
}

/**
 * SHA-256 (lowercase hex) of the certificate's public key in DER
 * SubjectPublicKeyInfo form. Stable across renewals that keep the key.
 */
export function publicKeyFingerprint(cert: X509Certificate): string {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}

type Line = { entry: KnownHost } | { text: string };

interface Snapshot {
  readonly lines: readonly Line[];
  /** Last entry per host wins, as when a file is appended to by hand. */
  readonly entries: ReadonlyMap<string, KnownHost>;
}

const EMPTY: Snapshot = { lines: [], entries: new Map() };
const MISSING = 'missing';
const HEADER = '# gemfetch known hosts: <host:port> <sha256 of SubjectPublicKeyInfo, hex> <expires> <added>';
const FINGERPRINT_RE = /^[0-9a-f]{64}$/;

/**
 * The known-hosts file. Construction touches no file; a missing file is an
 * empty store, created (parent directories mode 0700, file mode 0600) on the
 * first write.
 *
 * Reads are served from memory and refreshed when the file's inode, size or
 * mtime changes (one `stat` per call). Every write takes a lock file
 * (`<path>.lock`), re-reads the file, merges its change, writes a temporary
 * file in the same directory, fsyncs it and renames it over the original:
 * concurrent writers (processes or store instances) never lose each other's
 * changes and readers never see a partial file. A lock left by a crashed
 * process is broken once it is `lockStaleMs` old.
 *
 * All file errors are {@link KnownHostsError}s naming the path.
 */
export class KnownHostsStore {
  /** Absolute path of the known-hosts file. */
  readonly path: string;
  readonly #lockStaleMs: number;
  readonly #lockTimeoutMs: number;
  #cache: { sig: string; snapshot: Snapshot } | undefined;
  #loading: { sig: string; promise: Promise<Snapshot> } | undefined;
  /** Serialises this instance's writes so they do not compete for the lock file. */
  #writeQueue: Promise<unknown> = Promise.resolve();

  constructor(path: string = defaultKnownHostsPath(), options: KnownHostsStoreOptions = {}) {
    this.path = resolve(path);
    this.#lockStaleMs = options.lockStaleMs ?? 10_000;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 20_000;
  }

  /** The pin for `hostPort`, or undefined. Returns a copy. */
  async get(hostPort: string): Promise<KnownHost | undefined> {
    const entry = (await this.#snapshot()).entries.get(hostPort);
    return entry && copy(entry);
  }

  /** Every pin, in file order, one per host. Returns copies. */
  async list(): Promise<KnownHost[]> {
    return [...(await this.#snapshot()).entries.values()].map(copy);
  }

  /** Inserts or replaces the pin for `entry.hostPort`. Throws InvalidOptionError on a malformed entry. */
  async pin(entry: KnownHost): Promise<void> {
    const clean = validated(entry);
    await this.#mutate((snap) => ({ lines: withPin(snap, clean), result: undefined }));
  }

  /** Removes the pin for `hostPort`; resolves to whether there was one. Writes nothing when there was none. */
  async forget(hostPort: string): Promise<boolean> {
    if (!(await this.#snapshot()).entries.has(hostPort)) return false;
    return this.#mutate((snap) => {
      if (!snap.entries.has(hostPort)) return { result: false };
      return { lines: snap.lines.filter((l) => !('entry' in l && l.entry.hostPort === hostPort)), result: true };
    });
  }

  /**
   * Decides trust for a certificate presented by `hostPort` and records the
   * pin when needed:
   * - no pin: pins it, `first-use`;
   * - same key: `match` (the pinned expiry is moved later when the presented
   *   certificate expires later; nothing is written otherwise);
   * - different key and the pinned certificate has expired (`now` >= expiry):
   *   re-pins, `repinned-expired`;
   * - different key, not expired, `caVerified`: re-pins, `repinned-ca`;
   * - otherwise throws CertificateError `ERR_CERT_MISMATCH` and writes nothing.
   *
   * The decision to write is re-made under the lock on the current file, so
   * two processes meeting a host for the first time agree on one pin.
   */
  async verify(hostPort: string, presented: PresentedCertificate, now: Date = new Date()): Promise<TrustDecision> {
    const cert = { ...presented, fingerprint: presented.fingerprint.toLowerCase() };
    validated({ hostPort, fingerprint: cert.fingerprint, expires: cert.expires, added: now });
    const quick = decide(hostPort, (await this.#snapshot()).entries.get(hostPort), cert, now);
    if (!quick.write) return quick.decision;
    return this.#mutate((snap) => {
      const { decision, write } = decide(hostPort, snap.entries.get(hostPort), cert, now);
      return { lines: write ? withPin(snap, write) : undefined, result: decision };
    });
  }

  /** The current file contents, from cache when the file has not changed. */
  async #snapshot(): Promise<Snapshot> {
    let sig: string;
    try {
      sig = signature(await stat(this.path, { bigint: true }));
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.#error('cannot read', err);
      sig = MISSING;
    }
    if (this.#cache?.sig === sig) return this.#cache.snapshot;
    if (sig === MISSING) {
      this.#cache = { sig, snapshot: EMPTY };
      return EMPTY;
    }
    if (this.#loading?.sig === sig) return this.#loading.promise;
    const loading = {
      sig,
      promise: this.#readFile().then((fresh) => {
        this.#cache = fresh;
        return fresh.snapshot;
      }),
    };
    this.#loading = loading;
    void loading.promise.finally(() => {
      if (this.#loading === loading) this.#loading = undefined;
    }).catch(() => {});
    return loading.promise;
  }

  /** Reads and parses the file through one descriptor, so the signature matches the bytes. */
  async #readFile(): Promise<{ sig: string; snapshot: Snapshot }> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.path, 'r');
      const st = await handle.stat({ bigint: true });
      if (!st.isFile()) throw new Error('not a regular file');
      return { sig: signature(st), snapshot: parse(await handle.readFile('utf8')) };
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { sig: MISSING, snapshot: EMPTY };
      throw this.#error('cannot read', err);
    } finally {
      await handle?.close().catch(() => {});
    }
  }

  /**
   * Runs `change` on the current file under the lock and writes its new lines,
   * if any, atomically. Writes of one instance run one at a time.
   */
  #mutate<T>(change: (snap: Snapshot) => { lines?: Line[]; result: T }): Promise<T> {
    const run = this.#writeQueue.then(() => this.#mutateLocked(change));
    this.#writeQueue = run.catch(() => {});
    return run;
  }

  async #mutateLocked<T>(change: (snap: Snapshot) => { lines?: Line[]; result: T }): Promise<T> {
    const dir = dirname(this.path);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw this.#error(`cannot create directory ${dir} for`, err);
    }
    const lock = await this.#acquireLock();
    try {
      const current = await this.#readFile();
      const { lines, result } = change(current.snapshot);
      if (lines) await this.#writeAtomically(current.snapshot.lines.length === 0 ? [{ text: HEADER }, ...lines] : lines);
      else this.#cache = current;
      return result;
    } finally {
      await lock.release();
    }
  }

  async #writeAtomically(lines: readonly Line[]): Promise<void> {
    const text = serialize(lines);
    const temp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let handle: FileHandle | undefined;
    try {
      handle = await open(temp, 'wx', 0o600);
      await handle.writeFile(text, 'utf8');
      await handle.sync();
      const sig = signature(await handle.stat({ bigint: true }));
      await handle.close();
      handle = undefined;
      await rename(temp, this.path);
      this.#cache = { sig, snapshot: parse(text) };
    } catch (err) {
      await handle?.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw this.#error('cannot write', err);
    }
    await syncDirectory(dirname(this.path));
  }

  /** Creates `<path>.lock` exclusively, retrying with backoff and breaking stale locks. */
  async #acquireLock(): Promise<{ release: () => Promise<void> }> {
    const lockPath = `${this.path}.lock`;
    const deadline = Date.now() + this.#lockTimeoutMs;
    let delay = 2;
    for (;;) {
      let handle: FileHandle | undefined;
      try {
        handle = await open(lockPath, 'wx', 0o600);
        await handle.writeFile(`${process.pid}\n`);
        const ino = (await handle.stat({ bigint: true })).ino;
        await handle.close();
        return this.#heldLock(lockPath, ino);
      } catch (err) {
        if (handle) {
          await handle.close().catch(() => {});
          await unlink(lockPath).catch(() => {});
        }
        if (handle || errnoCode(err) !== 'EEXIST') throw this.#error(`cannot create lock file ${lockPath} for`, err);
      }
      await this.#breakIfStale(lockPath);
      if (Date.now() >= deadline) {
        throw new KnownHostsError(
          `timed out after ${this.#lockTimeoutMs} ms waiting for lock file ${lockPath} of known-hosts file ${this.path}`,
          { path: this.path },
        );
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 25);
    }
  }

  /** A held lock: its mtime is refreshed so it never looks stale, and release removes it only if it is still ours. */
  #heldLock(lockPath: string, ino: bigint): { release: () => Promise<void> } {
    const keepAlive = setInterval(() => {
      const t = new Date();
      utimes(lockPath, t, t).catch(() => {});
    }, Math.max(10, this.#lockStaleMs / 3));
    keepAlive.unref();
    return {
      release: async () => {
        clearInterval(keepAlive);
        try {
          if ((await stat(lockPath, { bigint: true })).ino === ino) await unlink(lockPath);
        } catch {
          // Already gone (broken as stale): nothing to release.
        }
      },
    };
  }

  /**
   * Removes the lock if it has not been touched for `lockStaleMs`. It is first
   * renamed to a private name, and only deleted if what was renamed is the
   * lock judged stale (another process may have replaced it meanwhile).
   */
  async #breakIfStale(lockPath: string): Promise<void> {
    let seen: BigIntStats;
    try {
      seen = await stat(lockPath, { bigint: true });
    } catch {
      return; // Released meanwhile: retry at once.
    }
    if (Date.now() - Number(seen.mtimeMs) < this.#lockStaleMs) return;
    const aside = `${lockPath}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      await rename(lockPath, aside);
    } catch {
      return;
    }
    try {
      if ((await stat(aside, { bigint: true })).ino !== seen.ino) {
        // We took a live lock: put it back unless someone else holds the name now.
        await link(aside, lockPath).catch(() => {});
      }
    } finally {
      await unlink(aside).catch(() => {});
    }
  }

  #error(action: string, err: unknown): KnownHostsError {
    const reason = err instanceof Error ? err.message : String(err);
    return new KnownHostsError(`${action} known-hosts file ${this.path}: ${reason}`, { path: this.path, cause: err });
  }
}

/** What verify concludes, and the entry to pin if the file must change. */
function decide(
  hostPort: string,
  pinned: KnownHost | undefined,
  cert: PresentedCertificate,
  now: Date,
): { decision: TrustDecision; write?: KnownHost } {
  const fresh = (): KnownHost => ({ hostPort, fingerprint: cert.fingerprint, expires: cert.expires, added: now });
  if (!pinned) return { decision: 'first-use', write: fresh() };
  if (pinned.fingerprint === cert.fingerprint) {
    if (cert.expires.getTime() <= pinned.expires.getTime()) return { decision: 'match' };
    return { decision: 'match', write: { ...pinned, expires: cert.expires } };
  }
  if (now.getTime() >= pinned.expires.getTime()) return { decision: 'repinned-expired', write: fresh() };
  if (cert.caVerified) return { decision: 'repinned-ca', write: fresh() };
  throw new CertificateError(
    'ERR_CERT_MISMATCH',
    `certificate of ${hostPort} has a different public key than the one pinned.\n` +
      `  pinned:    ${pinned.fingerprint} (certificate valid until ${pinned.expires.toISOString()})\n` +
      `  presented: ${cert.fingerprint}\n` +
      'This may be an attack (man in the middle), or the server changed its key before its certificate expired.\n' +
      `If you trust the new key, run \`gemfetch tofu forget ${hostPort}\` and try again.`,
    { hostPort, expectedFingerprint: pinned.fingerprint, actualFingerprint: cert.fingerprint, pinnedExpiry: pinned.expires },
  );
}

/** Lines with `entry` replacing the first line for its host (dropping later duplicates), or appended. */
function withPin(snap: Snapshot, entry: KnownHost): Line[] {
  const out: Line[] = [];
  let placed = false;
  for (const line of snap.lines) {
    if ('entry' in line && line.entry.hostPort === entry.hostPort) {
      if (!placed) out.push({ entry });
      placed = true;
    } else {
      out.push(line);
    }
  }
  if (!placed) out.push({ entry });
  return out;
}

function parse(text: string): Snapshot {
  const lines: Line[] = [];
  const entries = new Map<string, KnownHost>();
  const raw = text.split('\n');
  if (raw[raw.length - 1] === '') raw.pop();
  for (const rawLine of raw) {
    const entry = parseEntry(rawLine);
    if (entry) {
      lines.push({ entry });
      entries.delete(entry.hostPort); // keep file order of the winning entry
      entries.set(entry.hostPort, entry);
    } else {
      lines.push({ text: rawLine.replace(/\r$/, '') });
    }
  }
  return { lines, entries };
}

function parseEntry(line: string): KnownHost | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 4) return undefined;
  const [hostPort, fingerprint, expires, added] = fields as [string, string, string, string];
  const entry = { hostPort, fingerprint: fingerprint.toLowerCase(), expires: new Date(expires), added: new Date(added) };
  return isValid(entry) ? entry : undefined;
}

function serialize(lines: readonly Line[]): string {
  return lines
    .map((l) =>
      'entry' in l
        ? `${l.entry.hostPort} ${l.entry.fingerprint} ${l.entry.expires.toISOString()} ${l.entry.added.toISOString()}\n`
        : `${l.text}\n`,
    )
    .join('');
}

function isValid(e: KnownHost): boolean {
  return (
    typeof e.hostPort === 'string' &&
    /^[^\s#][^\s]*$/.test(e.hostPort) &&
    typeof e.fingerprint === 'string' &&
    FINGERPRINT_RE.test(e.fingerprint) &&
    e.expires instanceof Date &&
    Number.isFinite(e.expires.getTime()) &&
    e.added instanceof Date &&
    Number.isFinite(e.added.getTime())
  );
}

/** A normalised copy of `e`, or InvalidOptionError if it cannot be stored. */
function validated(e: KnownHost): KnownHost {
  const clean = { ...e, fingerprint: typeof e.fingerprint === 'string' ? e.fingerprint.toLowerCase() : e.fingerprint };
  if (!isValid(clean)) {
    throw new InvalidOptionError(
      `invalid known-hosts entry for ${JSON.stringify(e.hostPort)}: need host:port without spaces, ` +
        'a 64-hex-digit SHA-256 fingerprint and valid dates',
    );
  }
  return copy(clean);
}

function copy(e: KnownHost): KnownHost {
  return { hostPort: e.hostPort, fingerprint: e.fingerprint, expires: new Date(e.expires), added: new Date(e.added) };
}

/** Identity of one version of the file: every write renames a new inode into place. */
function signature(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes the rename durable; not supported everywhere, and not needed for atomicity.
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, fsConstants.O_RDONLY);
    await handle.sync();
  } catch {
    // ignore
  } finally {
    await handle?.close().catch(() => {});
  }
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
