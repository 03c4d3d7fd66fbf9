/**
 * Trust on first use (TOFU): a known-hosts file pinning one public key per
 * `host:port`, shared safely between concurrent gemfetch processes. The file
 * format and its damaged lines are described in known-hosts-format.ts.
 */
import { createHash, randomBytes, type X509Certificate } from 'node:crypto';
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { acquireFileLock, errnoCode, makePrivateDirectories, syncDirectory, type HeldLock } from './file-lock.js';
import { BoundedCache } from '../net/bounded-cache.js';
import { AbortError, InvalidOptionError, KnownHostsError } from '../errors.js';
import {
  classifyFor,
  classifyLine,
  isValidEntry,
  canonicalHostPort,
  LineTooLongError,
  readLines,
  serializeEntry,
  type KnownHost,
  type ReadSummary,
} from './known-hosts-format.js';

export type { KnownHost } from './known-hosts-format.js';

import { decideTrust, type PresentedCertificate, type TrustDecision, type TrustStore } from './trust-store.js';

export type { PresentedCertificate, TrustDecision } from './trust-store.js';

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

/** What one scan of the file found for one host. */
interface Lookup {
  /** The host's last line (the last wins, as when a file is appended to by hand): its pin, or the number of its damaged line. */
  readonly last: { pin: KnownHost } | { damagedLine: number } | undefined;
  /** The first line that names no host, if any. */
  readonly unattributableLine: number | undefined;
  readonly summary: ReadSummary;
}

/** What {@link KnownHostsStore.check} found in the file. */
export interface KnownHostsCheck {
  /** Lines in the file. */
  lines: number;
  /** Lines that are valid pins (a host pinned twice counts twice). */
  entries: number;
  /** The first {@link MAX_REPORTED_DAMAGE} damaged lines: number, and the host it was for when that can be told. */
  damaged: Array<{ line: number; hostPort?: string }>;
  /** Damaged lines in all. */
  damagedCount: number;
}

/** A write under the lock: append a new line, or replace the host's lines by `entry` (none: remove them). */
type Write = { kind: 'append'; entry: KnownHost } | { kind: 'replace'; entry: KnownHost | undefined };

const EMPTY_FILE: ReadSummary = { lines: 0, endsWithNewline: true };
const NO_LOOKUP: Lookup = { last: undefined, unattributableLine: undefined, summary: EMPTY_FILE };
const EMPTY_CHECK: KnownHostsCheck = { lines: 0, entries: 0, damaged: [], damagedCount: 0 };
const HEADER = '# gemfetch known hosts: <host:port> <sha256 of SubjectPublicKeyInfo, hex> <expires> <added>\n';
/** Host lookups remembered per version of the file. */
const LOOKUP_CACHE_ENTRIES = 1024;
/** Damaged lines listed by {@link KnownHostsStore.check}. */
export const MAX_REPORTED_DAMAGE = 100;
const NEWLINE = Buffer.from('\n');

/**
 * The known-hosts file. Construction touches no file; a missing file is an
 * empty store, created (parent directories mode 0700, file mode 0600) on the
 * first write.
 *
 * Memory is bounded whatever the file size: the file is read as a stream of
 * fixed-size chunks (64 KiB) with lines of at most 8 KiB (a longer line is a
 * KnownHostsError naming file:line), so checking one host keeps one chunk and
 * one line in memory, and costs one pass over the file (about 1 s per
 * million pins) unless the answer is cached: up to 1024 host lookups are kept
 * per version of the file (inode, size, mtime; one `stat` per call).
 * Only {@link list} returns every pin, so it holds them all.
 *
 * Fails closed on a damaged file: a line whose host can be told but whose key
 * or dates do not parse pins that host to an unreadable key (it is refused);
 * a line that names no host (garbage, or cut inside the host name) may have
 * been any host's pin, so while it is there no host is trusted on first use.
 * Both are KnownHostsErrors naming `file:line`; `gemfetch tofu check` lists
 * such lines. A new line is never written on the same line as a last line
 * left without its newline.
 *
 * Every write takes a lock file (`<path>.lock`) and re-reads the file under
 * it. A new pin is appended (fsynced; cut back if the write fails): a reader
 * may see that last line half-written, so a store that finds an unterminated
 * damaged last line reads it again under the lock before judging. A replaced
 * or removed pin is written by streaming the file to a temporary file in the
 * same directory, fsyncing it and renaming it over the original, so readers
 * never see a half-rewritten file. Concurrent writers (processes or
 * store instances) never lose each other's changes. A lock left by a crashed
 * process is broken once it is `lockStaleMs` old.
 *
 * All file errors are {@link KnownHostsError}s naming the path.
 */
export class KnownHostsStore implements TrustStore {
  /** Absolute path of the known-hosts file. */
  readonly path: string;
  readonly #lockStaleMs: number;
  readonly #lockTimeoutMs: number;
  #cache: { sig: string; lookups: BoundedCache<string, Lookup> } | undefined;
  /** Serialises this instance's writes so they do not compete for the lock file. */
  #writeQueue: Promise<unknown> = Promise.resolve();

  constructor(path: string = defaultKnownHostsPath(), options: KnownHostsStoreOptions = {}) {
    this.path = resolve(path);
    this.#lockStaleMs = options.lockStaleMs ?? 10_000;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 20_000;
  }

  /**
   * The pin for `hostPort`, or undefined when it has none. Returns a copy.
   * @throws KnownHostsError (naming file:line) when the host's line is
   * damaged, or when it has no pin but the file has a line naming no host.
   */
  async get(hostPort: string): Promise<KnownHost | undefined> {
    let lookup = await this.#lookup(hostPort);
    if (mayBeTornAppend(lookup)) lookup = await this.#underLock(undefined, () => this.#scan(hostPort));
    const pin = this.#pinOf(hostPort, lookup);
    return pin && copy(pin);
  }

  /** Every valid pin, in file order, one per host (damaged lines are skipped: see {@link check}). Holds them all in memory. */
  async list(): Promise<KnownHost[]> {
    const entries = new Map<string, KnownHost>();
    await this.#withFile(undefined, (handle, size) =>
      readLines(handle, size, (raw) => {
        const line = classifyLine(raw.toString('utf8'));
        if (line.kind !== 'entry') return;
        entries.delete(line.entry.hostPort); // keep the file order of the winning entry
        entries.set(line.entry.hostPort, line.entry);
      }),
    );
    return [...entries.values()];
  }

  /** Reads the whole file and reports its damaged lines. Memory is bounded (at most {@link MAX_REPORTED_DAMAGE} reported). */
  async check(): Promise<KnownHostsCheck> {
    const first = await this.#withFile({ report: EMPTY_CHECK, endsWithNewline: true }, checkFile);
    const lastDamaged = first.report.damaged.at(-1)?.line;
    if (first.endsWithNewline || lastDamaged !== first.report.lines) return first.report;
    // The unterminated damaged last line may be an append in progress: tell under the lock.
    return this.#underLock(undefined, async () => (await this.#withFile({ report: EMPTY_CHECK, endsWithNewline: true }, checkFile)).report);
  }

  /** Inserts or replaces the pin for `entry.hostPort` (a damaged line for that host included). Throws InvalidOptionError on a malformed entry. */
  async pin(entry: KnownHost): Promise<void> {
    const clean = validated(entry);
    await this.#mutate(clean.hostPort, undefined, (lookup) => ({ result: undefined, write: writeOf(lookup, clean) }));
  }

  /** Removes the lines for `hostPort` (valid or damaged); resolves to whether there were any. Writes nothing when there were none. */
  async forget(hostPort: string): Promise<boolean> {
    if (!(await this.#lookup(hostPort)).last) return false;
    return this.#mutate(hostPort, undefined, (lookup) =>
      lookup.last ? { result: true, write: { kind: 'replace', entry: undefined } } : { result: false },
    );
  }

  /**
   * The `host:port` keys with a valid pin whose host is `host` (as in a
   * `hostPort`: `example.org`, `[::1]`), in file order, each once. Streams the
   * file: memory holds only the matches.
   */
  async hostPortsOf(host: string): Promise<string[]> {
    const found = new Set<string>();
    const prefix = `${host}:`;
    await this.#withFile(undefined, (handle, size) =>
      readLines(handle, size, (raw) => {
        if (raw.length < prefix.length || raw.toString('utf8', 0, prefix.length) !== prefix) return;
        const line = classifyLine(raw.toString('utf8'));
        if (line.kind === 'entry' && /^[0-9]+$/.test(line.entry.hostPort.slice(prefix.length))) found.add(line.entry.hostPort);
      }),
    );
    return [...found];
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
   * A damaged file is refused with KnownHostsError `ERR_KNOWN_HOSTS` naming
   * file:line, writing nothing: when the host's own line is damaged, or when
   * the host has no pin and some line names no host (see the class comment).
   *
   * The decision to write is re-made under the lock on the current file, so
   * two processes meeting a host for the first time agree on one pin. Once
   * `options.signal` has aborted, nothing is written any more: waiting for the
   * lock stops and the call rejects with AbortError (a request that gave up
   * leaves no pin behind).
   */
  async verify(
    hostPort: string,
    presented: PresentedCertificate,
    now: Date = new Date(),
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<TrustDecision> {
    const cert = { ...presented, fingerprint: presented.fingerprint.toLowerCase() };
    validated({ hostPort, fingerprint: cert.fingerprint, expires: cert.expires, added: now });
    const lookup = await this.#lookup(hostPort);
    // An unterminated damaged last line may be another process's append in progress: decide under the lock.
    if (!mayBeTornAppend(lookup)) {
      const quick = decideTrust(hostPort, this.#pinOf(hostPort, lookup), cert, now);
      if (!quick.write) return quick.decision;
    }
    return this.#mutate(hostPort, options.signal, (lookup) => {
      const { decision, write } = decideTrust(hostPort, this.#pinOf(hostPort, lookup), cert, now);
      // A later expiry only refines a matching pin: not worth writing into a file with a line naming no host.
      if (!write || (decision === 'match' && lookup.unattributableLine !== undefined)) return { result: decision };
      return { result: decision, write: writeOf(lookup, write) };
    });
  }

  /** The host's pin, undefined when it has none, or KnownHostsError when the file does not allow telling. */
  #pinOf(hostPort: string, lookup: Lookup): KnownHost | undefined {
    const { last, unattributableLine } = lookup;
    if (last && 'pin' in last) return last.pin;
    if (last) {
      throw new KnownHostsError(
        `${this.path}:${last.damagedLine}: the pinned key of ${hostPort} cannot be read (damaged line: its key or dates do not parse), ` +
          `so no certificate of ${hostPort} is trusted. Repair the line, or remove it with \`gemfetch tofu forget ${hostPort}\` ` +
          'to trust the next key presented.',
        { path: this.path },
      );
    }
    if (unattributableLine !== undefined) {
      throw new KnownHostsError(
        `${this.path}:${unattributableLine}: damaged line that names no host (it may have been the pin of ${hostPort}), ` +
          `so ${hostPort} is not trusted on first use. Repair or delete the line; \`gemfetch tofu check\` lists damaged lines.`,
        { path: this.path },
      );
    }
    return undefined;
  }

  /** What the file says about `hostPort`: from cache while the file is unchanged, else by one pass over it. */
  async #lookup(hostPort: string): Promise<Lookup> {
    let sig: string;
    try {
      sig = signature(await stat(this.path, { bigint: true }));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return NO_LOOKUP;
      throw this.#error('cannot read', err);
    }
    const cached = this.#cache?.sig === sig ? this.#cache.lookups.get(hostPort) : undefined;
    if (cached) return cached;
    return this.#withFile(NO_LOOKUP, async (handle, size, fileSig) => {
      const lookup = await scanFor(handle, size, hostPort);
      if (this.#cache?.sig !== fileSig) this.#cache = { sig: fileSig, lookups: new BoundedCache(LOOKUP_CACHE_ENTRIES) };
      this.#cache.lookups.set(hostPort, lookup);
      return lookup;
    });
  }

  /**
   * Runs `read` on the file through one descriptor, so the signature matches
   * the bytes read (`size` is the size at open). Resolves to `missing` when
   * there is no file.
   */
  async #withFile<T>(missing: T, read: (handle: FileHandle, size: number, sig: string) => Promise<T>): Promise<T> {
    let handle: FileHandle | undefined;
    try {
      // O_NONBLOCK: a FIFO put in place of the file is refused at once below, never waited on (the open blocked forever).
      handle = await open(this.path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
      const st = await handle.stat({ bigint: true });
      if (!st.isFile()) throw new Error('not a regular file');
      return await read(handle, Number(st.size), signature(st));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return missing;
      throw this.#error('cannot read', err);
    } finally {
      await handle?.close().catch(() => {});
    }
  }

  /**
   * Runs `change` on what the current file says about `hostPort`, under the
   * lock, and makes its write, if any. Writes of one instance run one at a time.
   */
  #mutate<T>(hostPort: string, signal: AbortSignal | undefined, change: (lookup: Lookup) => { result: T; write?: Write }): Promise<T> {
    return this.#underLock(signal, async () => {
      const lookup = await this.#scan(hostPort);
      const { result, write } = change(lookup);
      if (write?.kind === 'append') await this.#append(write.entry, lookup.summary, signal);
      else if (write) await this.#replace(hostPort, write.entry, signal);
      return result;
    });
  }

  /** One pass over the current file for `hostPort`, not cached. */
  #scan(hostPort: string): Promise<Lookup> {
    return this.#withFile(NO_LOOKUP, (handle, size) => scanFor(handle, size, hostPort));
  }

  /**
   * Runs `run` holding the lock file, so no other writer is in the file.
   * Runs of one instance go one at a time. Nothing starts once `signal` has aborted.
   */
  #underLock<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    const task = this.#writeQueue.then(async () => {
      throwIfAborted(signal);
      await this.#ensureDirectory();
      const lock = await this.#acquireLock(signal);
      try {
        return await run();
      } finally {
        await lock.release();
      }
    });
    this.#writeQueue = task.catch(() => {});
    return task;
  }

  /**
   * Creates the file's directory and its missing parents (mode 0700), one
   * level at a time and at most 64 levels (see file-lock.ts): Node's
   * recursive mkdir loops forever where a directory exists but nothing can be
   * created in it (under /proc).
   */
  async #ensureDirectory(): Promise<void> {
    const dir = dirname(this.path);
    try {
      await makePrivateDirectories(dir);
    } catch (err) {
      throw this.#error(`cannot create directory ${dir} for`, err);
    }
  }

  /** Appends `entry`, after a newline if the last line has none, with the header if the file is empty. */
  async #append(entry: KnownHost, file: ReadSummary, signal: AbortSignal | undefined): Promise<void> {
    const prefix = file.lines === 0 ? HEADER : file.endsWithNewline ? '' : '\n';
    throwIfAborted(signal);
    let handle: FileHandle | undefined;
    let sizeBefore: number | undefined;
    try {
      handle = await open(this.path, 'a', 0o600);
      sizeBefore = (await handle.stat()).size;
      throwIfAborted(signal); // the last moment before the write: the caller may have given up meanwhile
      await handle.writeFile(prefix + serializeEntry(entry), 'utf8');
      await handle.sync();
    } catch (err) {
      if (err instanceof AbortError) throw err;
      // Never leave a cut line behind: it would refuse every new host until repaired.
      if (sizeBefore !== undefined) await handle?.truncate(sizeBefore).catch(() => {});
      throw this.#error('cannot write', err);
    } finally {
      await handle?.close().catch(() => {});
    }
    if (file.lines === 0) await syncDirectory(dirname(this.path));
  }

  /**
   * Rewrites the file with the lines of `hostPort` replaced by `entry` (in
   * the place of the first) or removed, streaming it to a temporary file that
   * is renamed over the original. Every other line is copied byte for byte.
   */
  async #replace(hostPort: string, entry: KnownHost | undefined, signal: AbortSignal | undefined): Promise<void> {
    const temp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let out: FileHandle | undefined;
    let pending: Buffer[] = [];
    let placed = entry === undefined;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const bytes = Buffer.concat(pending);
      pending = [];
      await out!.writeFile(bytes);
    };
    try {
      out = await open(temp, 'wx', 0o600);
      const file = await this.#withFile(EMPTY_FILE, (handle, size) =>
        readLines(
          handle,
          size,
          (raw) => {
            if (!isLineFor(classifyFor(raw, hostPort), hostPort)) pending.push(Buffer.from(raw), NEWLINE);
            else if (!placed) {
              pending.push(Buffer.from(serializeEntry(entry!)));
              placed = true;
            }
          },
          flush,
        ),
      );
      if (file.lines === 0 && entry) pending.push(Buffer.from(HEADER));
      if (!placed) pending.push(Buffer.from(serializeEntry(entry!)));
      await flush();
      await out.sync();
      await out.close();
      out = undefined;
      throwIfAborted(signal);
      await rename(temp, this.path);
    } catch (err) {
      await out?.close().catch(() => {});
      await unlink(temp).catch(() => {});
      if (err instanceof AbortError || err instanceof KnownHostsError) throw err;
      throw this.#error('cannot write', err);
    }
    await syncDirectory(dirname(this.path));
  }

  /** Creates `<path>.lock` exclusively (see file-lock.ts); stops waiting when `signal` aborts. */
  #acquireLock(signal: AbortSignal | undefined): Promise<HeldLock> {
    const lockPath = `${this.path}.lock`;
    return acquireFileLock(lockPath, {
      staleMs: this.#lockStaleMs,
      timeoutMs: this.#lockTimeoutMs,
      signal,
      timedOut: () =>
        new KnownHostsError(`timed out after ${this.#lockTimeoutMs} ms waiting for lock file ${lockPath} of known-hosts file ${this.path}`, {
          path: this.path,
        }),
      cannotCreate: (_reason, cause) => this.#error(`cannot create lock file ${lockPath} for`, cause),
    });
  }

  #error(action: string, err: unknown): KnownHostsError {
    if (err instanceof LineTooLongError) return new KnownHostsError(`${this.path}:${err.lineNumber}: ${err.message}`, { path: this.path, cause: err });
    const reason = err instanceof Error ? err.message : String(err);
    return new KnownHostsError(`${action} known-hosts file ${this.path}: ${reason}`, { path: this.path, cause: err });
  }
}



/** One pass of {@link KnownHostsStore.check}. */
async function checkFile(handle: FileHandle, size: number): Promise<{ report: KnownHostsCheck; endsWithNewline: boolean }> {
  const report: KnownHostsCheck = { lines: 0, entries: 0, damaged: [], damagedCount: 0 };
  const summary = await readLines(handle, size, (raw, line) => {
    const kind = classifyLine(raw.toString('utf8'));
    if (kind.kind === 'entry') report.entries++;
    if (kind.kind !== 'damaged-host' && kind.kind !== 'unattributable') return;
    report.damagedCount++;
    if (report.damaged.length < MAX_REPORTED_DAMAGE) report.damaged.push(kind.kind === 'damaged-host' ? { line, hostPort: kind.hostPort } : { line });
  });
  report.lines = summary.lines;
  return { report, endsWithNewline: summary.endsWithNewline };
}

/**
 * Whether what makes the host's pin unreadable is an unterminated last line:
 * what another process's append looks like while it is being written. Only
 * the re-read under the lock (writers excluded) can tell it from a cut line.
 */
function mayBeTornAppend({ last, unattributableLine, summary }: Lookup): boolean {
  if (summary.endsWithNewline) return false;
  const damaged = last ? ('damagedLine' in last ? last.damagedLine : undefined) : unattributableLine;
  return damaged === summary.lines;
}

/** Append a first line for the host, or replace the lines it has (valid or damaged). */
function writeOf(lookup: Lookup, entry: KnownHost): Write {
  return lookup.last ? { kind: 'replace', entry } : { kind: 'append', entry };
}

function isLineFor(line: ReturnType<typeof classifyFor>, hostPort: string): boolean {
  return (line.kind === 'entry' && line.entry.hostPort === hostPort) || (line.kind === 'damaged-host' && line.hostPort === hostPort);
}

/** One pass over the file: the last line for `hostPort` and the first line naming no host. */
async function scanFor(handle: FileHandle, size: number, hostPort: string): Promise<Lookup> {
  let last: Lookup['last'];
  let unattributableLine: number | undefined;
  const summary = await readLines(handle, size, (raw, lineNumber) => {
    const line = classifyFor(raw, hostPort);
    if (line.kind === 'unattributable') unattributableLine ??= lineNumber;
    else if (isLineFor(line, hostPort)) last = line.kind === 'entry' ? { pin: line.entry } : { damagedLine: lineNumber };
  });
  return { last, unattributableLine, summary };
}

/** A normalised copy of `e`, or InvalidOptionError if it cannot be stored. */
function validated(e: KnownHost): KnownHost {
  // The key as the client looks it up (a pin under 'Example.ORG:1965' or 'example.org' would never be found).
  const hostPort = canonicalHostPort(e.hostPort);
  const clean = { ...e, hostPort: hostPort ?? e.hostPort, fingerprint: typeof e.fingerprint === 'string' ? e.fingerprint.toLowerCase() : e.fingerprint };
  if (hostPort === undefined || !isValidEntry(clean)) {
    throw new InvalidOptionError(
      `invalid known-hosts entry for ${JSON.stringify(e.hostPort)}: need HOST:PORT (IPv6 in brackets), ` +
        'a 64-hex-digit SHA-256 fingerprint and valid dates',
    );
  }
  return copy(clean);
}

function copy(e: KnownHost): KnownHost {
  return { hostPort: e.hostPort, fingerprint: e.fingerprint, expires: new Date(e.expires), added: new Date(e.added) };
}

/** Identity of one version of the file: inode, size and mtime change with every write. */
function signature(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError({ cause: signal.reason });
}
