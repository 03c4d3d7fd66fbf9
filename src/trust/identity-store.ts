/**
 * The identity store: named client certificates ("identities") and the
 * scopes (host + port + path prefix, see identity-scope.ts) each one is sent
 * to, shared by every gemfetch process of the user.
 *
 * Layout, under `$XDG_DATA_HOME/gemfetch/identities/` (directory mode 0700):
 * - `NAME.crt`: the certificate, PEM;
 * - `NAME.key`: its private key, PEM (PKCS#8), mode 0600;
 * - `index.json`: every identity's name, scopes, fingerprint, common name,
 *   expiry and creation date. The index decides which identities exist: a
 *   certificate file it does not list is ignored.
 *
 * Every file is written atomically (a temporary file in the same directory,
 * fsynced, renamed over the old one), and every change re-reads the index
 * under a lock file (`index.json.lock`, the same locking as the known-hosts
 * store: src/trust/file-lock.ts), so concurrent processes never lose each
 * other's changes.
 *
 * Fails closed: a damaged index (not JSON, or not the expected shape) makes
 * every lookup fail with an {@link IdentityError} naming the file, since
 * which URL gets which identity cannot be told; a certificate or key file
 * that is missing, unreadable, too big, not a regular file (a FIFO is
 * refused at once, never waited on), not PEM, or not the pair the index
 * recorded (its fingerprint), or a key file readable by other users (mode
 * not 0600, as ssh refuses), fails the request that needed it, naming the
 * file. Nothing is ever sent instead of the identity in scope.
 */
import { createHash, createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { IdentityError, InvalidOptionError } from '../errors.js';
import { BoundedCache } from '../net/bounded-cache.js';
import { acquireFileLock, errnoCode, makePrivateDirectories, syncDirectory } from './file-lock.js';
import { formatScope, mostSpecificScope, parseScope, sameScope, type IdentityScope, type ScopeTarget } from './identity-scope.js';
import { createCertificate } from './selfsigned.js';

/** Largest index file read (about 4000 identities with a few scopes each): a bigger one is refused as damaged. */
export const MAX_INDEX_BYTES = 1024 * 1024;
/** Largest certificate or key file read. */
export const MAX_PEM_BYTES = 64 * 1024;
/** Longest identity name. */
export const MAX_NAME_LENGTH = 64;
/** Longest validity `create` accepts, in days (100 years). */
export const MAX_DAYS = 36_500;
/** Validity of a created identity when none is given: ten years (a server knows a user by the certificate; an expired one locks them out). */
export const DEFAULT_DAYS = 3650;

/** Checked pairs kept per store. */
const MAX_LOADED = 64;
/**
 * Flags for reading a file of the store: O_NONBLOCK so that a FIFO (or a
 * device) put in place of a file is opened at once and then refused as not
 * a regular file, instead of blocking the open (and the request) forever.
 * No effect on regular files.
 */
const READ_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const FINGERPRINT_RE = /^[0-9a-f]{64}$/;

/** What the store knows about one identity (no key material). */
export interface IdentityInfo {
  name: string;
  /** SHA-256 (lowercase hex) of the certificate's DER SubjectPublicKeyInfo, as TOFU pins and the `--json` records show. */
  fingerprint: string;
  /** The certificate's subject common name. */
  commonName: string;
  /** End of the certificate's validity. */
  notAfter: Date;
  /** When the identity was created or imported. */
  created: Date;
  /** Where it is sent, as URLs (`gemini://host[:port]/path`), in the order added. */
  scopes: string[];
}

/** An identity ready to be sent: its certificate and private key (PEM). */
export interface IdentityMaterial {
  name: string;
  fingerprint: string;
  cert: string;
  key: string;
}

/** Options of {@link IdentityStore.create}. */
export interface CreateIdentityOptions {
  /** Scopes to send it to (URLs, see parseScope). Default none: it is sent only with `--id NAME` until `use` gives it one. */
  scopes?: string[];
  /** Validity in days, 1 to {@link MAX_DAYS}; default {@link DEFAULT_DAYS}. */
  days?: number;
  /** Subject common name; default the identity's name. */
  commonName?: string;
  /** Now, for tests. */
  now?: Date;
}

/** Tuning of the lock guarding writes (as for the known-hosts store). */
export interface IdentityStoreOptions {
  /** A lock file not touched for this long is considered abandoned and broken. Default 10 000 ms. */
  lockStaleMs?: number;
  /** Give up (IdentityError) after waiting this long for the lock. Default 20 000 ms. */
  lockTimeoutMs?: number;
}

/** One identity as recorded in the index file. */
interface Entry {
  name: string;
  fingerprint: string;
  commonName: string;
  notAfter: string;
  created: string;
  scopes: string[];
}

/** An entry with its scopes parsed, for matching. */
interface ParsedEntry {
  entry: Entry;
  scopes: IdentityScope[];
}

/**
 * Default identity directory: `$XDG_DATA_HOME/gemfetch/identities` when
 * `XDG_DATA_HOME` is an absolute path, else `~/.local/share/gemfetch/identities`
 * (the same base as the known-hosts file). Pure: touches no file.
 */
export function defaultIdentitiesDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  const dataHome = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share');
  return join(dataHome, 'gemfetch', 'identities');
}

/**
 * Whether `name` can name an identity: 1 to {@link MAX_NAME_LENGTH} letters,
 * digits, `.`, `_` or `-`, starting with a letter or digit (it names files).
 */
export function isValidIdentityName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

/**
 * The identity store in one directory. Construction touches no file; a
 * missing directory or index is an empty store, created on the first write.
 * See the module comment for the layout and the guarantees. All methods
 * reject with {@link IdentityError} (`ERR_IDENTITY`) naming the file for a
 * file problem or an unknown identity, and with InvalidOptionError for a bad
 * name, scope or option.
 */
export class IdentityStore {
  /** Absolute path of the directory. */
  readonly dir: string;
  /** Absolute path of the index file. */
  readonly indexPath: string;
  readonly #lockStaleMs: number;
  readonly #lockTimeoutMs: number;
  /** The parsed index, for the version of the file it was read from. */
  #cache: { sig: string; entries: ParsedEntry[] } | undefined;
  #writeQueue: Promise<unknown> = Promise.resolve();
  /** Pairs loaded and checked, per name, with the signature of the files they were read from. */
  readonly #loaded = new BoundedCache<string, { sig: string; material: IdentityMaterial }>(MAX_LOADED);

  constructor(dir: string = defaultIdentitiesDir(), options: IdentityStoreOptions = {}) {
    this.dir = resolve(dir);
    this.indexPath = join(this.dir, 'index.json');
    this.#lockStaleMs = options.lockStaleMs ?? 10_000;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 20_000;
  }

  /** Path of an identity's certificate file. */
  certPath(name: string): string {
    return join(this.dir, `${name}.crt`);
  }

  /** Path of an identity's private key file. */
  keyPath(name: string): string {
    return join(this.dir, `${name}.key`);
  }

  /** Every identity, in the order created. */
  async list(): Promise<IdentityInfo[]> {
    return (await this.#entries()).map(({ entry }) => infoOf(entry));
  }

  /** The identity named `name`, or undefined. */
  async get(name: string): Promise<IdentityInfo | undefined> {
    const found = (await this.#entries()).find(({ entry }) => entry.name === name);
    return found && infoOf(found.entry);
  }

  /**
   * The identity whose scope covers `target` most specifically (see
   * mostSpecificScope), and that scope; undefined when none does. Reads only
   * the index (one `stat` when it has not changed).
   */
  async match(target: ScopeTarget): Promise<{ identity: IdentityInfo; scope: string } | undefined> {
    const found = mostSpecificScope(await this.#entries(), (e) => e.scopes, target);
    return found && { identity: infoOf(found.candidate.entry), scope: formatScope(found.scope) };
  }

  /**
   * The certificate and key to send for a request to `target`: those of the
   * identity in scope ({@link match}), loaded and checked ({@link load});
   * undefined when no identity's scope covers it.
   * @throws IdentityError when the index is damaged, or the identity in scope
   *   cannot be loaded: the request must not go out without it.
   */
  async resolve(target: ScopeTarget): Promise<IdentityMaterial | undefined> {
    const found = await this.match(target);
    return found && this.load(found.identity.name);
  }

  /**
   * Reads an identity's certificate and key and checks them: both parse, the
   * key belongs to the certificate, and the certificate is the one the index
   * recorded (same fingerprint).
   * @throws IdentityError naming the identity when there is none by that
   *   name, or naming the file that is missing, unreadable or wrong.
   */
  async load(name: string): Promise<IdentityMaterial> {
    const found = (await this.#entries()).find(({ entry }) => entry.name === name);
    if (!found) throw this.#unknown(name);
    const certPath = this.certPath(name);
    const keyPath = this.keyPath(name);
    // Checking a pair costs over a millisecond: a checked pair is reused while neither file (nor its index entry) changed.
    const sig = `${found.entry.fingerprint} ${await fileSignature(certPath)} ${await fileSignature(keyPath)}`;
    const known = this.#loaded.get(name);
    if (known && known.sig === sig) return { ...known.material };
    const material = await this.#loadChecked(name, found.entry, certPath, keyPath);
    this.#loaded.set(name, { sig, material });
    return { ...material };
  }

  async #loadChecked(name: string, entry: Entry, certPath: string, keyPath: string): Promise<IdentityMaterial> {
    const found = { entry };
    const certText = await readBounded(certPath, 'certificate', name);
    const keyText = await readBounded(keyPath, 'private key', name);
    const cert = parseCertificate(certText, () => `${certPath}: the certificate of identity ${name} is damaged (not a PEM certificate)`, name, certPath);
    const key = parseKey(keyText, () => `${keyPath}: the private key of identity ${name} is damaged (not a PEM private key, or encrypted)`, name, keyPath);
    if (!cert.checkPrivateKey(key)) {
      throw new IdentityError(`${keyPath}: this private key does not belong to the certificate ${certPath} of identity ${name}`, { path: keyPath, identity: name });
    }
    const fingerprint = spkiFingerprint(cert);
    if (fingerprint !== found.entry.fingerprint) {
      throw new IdentityError(
        `${certPath}: the certificate of identity ${name} is not the one recorded in ${this.indexPath} ` +
          `(fingerprint ${fingerprint}, recorded ${found.entry.fingerprint}): it was replaced; re-import it with \`gemfetch id import\``,
        { path: certPath, identity: name },
      );
    }
    return { name, fingerprint, cert: certText, key: keyText };
  }

  /**
   * Creates an identity: a new key (EC P-256) and a self-signed certificate
   * (CN `commonName`, valid `days` from now), stored with its `scopes`.
   * @throws IdentityError when an identity of that name exists;
   *   InvalidOptionError for a bad name, scope, days or common name.
   */
  async create(name: string, options: CreateIdentityOptions = {}): Promise<IdentityInfo> {
    checkName(name);
    const days = options.days ?? DEFAULT_DAYS;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
      throw new InvalidOptionError(`validity must be a whole number of days from 1 to ${MAX_DAYS} (got ${String(days)})`);
    }
    const commonName = options.commonName ?? name;
    if (typeof commonName !== 'string' || commonName.trim() === '' || commonName.length > 64 || /[\u0000-\u001f\u007f]/.test(commonName)) {
      throw new InvalidOptionError(`common name must be 1 to 64 characters without control characters (got ${JSON.stringify(commonName)})`);
    }
    const scopes = (options.scopes ?? []).map(parseScope);
    const now = options.now ?? new Date();
    const generated = createCertificate({ commonName, notBefore: new Date(now.getTime() - 3600_000), notAfter: new Date(now.getTime() + days * 86_400_000) });
    return this.#add(name, generated.cert, generated.key, scopes, now);
  }

  /**
   * Imports a certificate and its private key (PEM text) as identity `name`.
   * @throws InvalidOptionError when either does not parse or the key does not
   *   belong to the certificate (nothing is stored); IdentityError when an
   *   identity of that name exists.
   */
  async import(name: string, certPem: string, keyPem: string, options: { scopes?: string[]; now?: Date } = {}): Promise<IdentityInfo> {
    checkName(name);
    const cert = parseCertificate(certPem, () => 'the certificate is not a PEM certificate', name);
    const key = parseKey(keyPem, () => 'the private key is not a PEM private key (or it is encrypted: decrypt it first)', name);
    if (!cert.checkPrivateKey(key)) throw new InvalidOptionError('the private key does not belong to the certificate');
    const scopes = (options.scopes ?? []).map(parseScope);
    return this.#add(name, cert.toString(), key.export({ type: 'pkcs8', format: 'pem' }).toString(), scopes, options.now ?? new Date());
  }

  /**
   * Sends identity `name` to `scope` from now on. A scope belongs to one
   * identity: it is taken from any other that had it (their names are
   * returned in `movedFrom`).
   */
  async use(name: string, scope: string): Promise<{ identity: IdentityInfo; scope: string; movedFrom: string[] }> {
    const parsed = parseScope(scope);
    const shown = formatScope(parsed);
    return this.#change((entries) => {
      const target = entries.find((e) => e.name === name);
      if (!target) throw this.#unknown(name);
      const movedFrom: string[] = [];
      for (const other of entries) {
        if (other === target) continue;
        const kept = other.scopes.filter((s) => !sameScope(parseScope(s), parsed));
        if (kept.length !== other.scopes.length) movedFrom.push(other.name);
        other.scopes = kept;
      }
      if (!target.scopes.some((s) => sameScope(parseScope(s), parsed))) target.scopes.push(shown);
      return { result: { identity: infoOf(target), scope: shown, movedFrom }, write: true };
    });
  }

  /** Stops sending identity `name` to `scope`; resolves to whether it had that scope (nothing is written otherwise). */
  async unscope(name: string, scope: string): Promise<boolean> {
    const parsed = parseScope(scope);
    return this.#change((entries) => {
      const target = entries.find((e) => e.name === name);
      if (!target) throw this.#unknown(name);
      const kept = target.scopes.filter((s) => !sameScope(parseScope(s), parsed));
      const had = kept.length !== target.scopes.length;
      target.scopes = kept;
      return { result: had, write: had };
    });
  }

  /**
   * Deletes identity `name`: its files, then its index entry, under the lock
   * (a create of the same name in another process cannot interleave). A
   * crash in between leaves an entry whose files are missing: it fails
   * closed, and deleting again finishes the job.
   * @throws IdentityError when there is none.
   */
  async delete(name: string): Promise<void> {
    await this.#change(async (entries) => {
      const index = entries.findIndex((e) => e.name === name);
      if (index < 0) throw this.#unknown(name);
      for (const file of [this.keyPath(name), this.certPath(name)]) {
        await unlink(file).catch((err: unknown) => {
          if (errnoCode(err) !== 'ENOENT') throw this.#fileError('cannot delete', file, err);
        });
      }
      entries.splice(index, 1);
      return { result: undefined, write: true };
    });
  }

  // ------------------------------------------------------------ internals

  async #add(name: string, cert: string, key: string, scopes: IdentityScope[], now: Date): Promise<IdentityInfo> {
    const x509 = new X509Certificate(cert);
    const entry: Entry = {
      name,
      fingerprint: spkiFingerprint(x509),
      commonName: commonNameOf(x509.subject),
      notAfter: new Date(x509.validTo).toISOString(),
      created: now.toISOString(),
      scopes: [],
    };
    for (const scope of scopes) if (!entry.scopes.includes(formatScope(scope))) entry.scopes.push(formatScope(scope));
    return this.#change(async (entries) => {
      if (entries.some((e) => e.name === name)) {
        throw new IdentityError(`an identity named ${name} exists already (see \`gemfetch id list\`; delete it first to replace it)`, { identity: name });
      }
      // Scopes belong to one identity: the new one takes them.
      for (const other of entries) other.scopes = other.scopes.filter((s) => !scopes.some((mine) => sameScope(parseScope(s), mine)));
      await this.#writeFile(this.keyPath(name), key);
      await this.#writeFile(this.certPath(name), cert);
      entries.push(entry);
      return { result: infoOf(entry), write: true };
    });
  }

  /** The index, parsed: from cache while the file is unchanged. */
  async #entries(): Promise<ParsedEntry[]> {
    let st: BigIntStats;
    try {
      st = await stat(this.indexPath, { bigint: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
      throw this.#fileError('cannot read', this.indexPath, err);
    }
    const sig = signature(st);
    if (this.#cache?.sig === sig) return this.#cache.entries;
    const { entries, sig: readSig } = await this.#readIndex();
    const parsed = entries.map((entry) => ({ entry, scopes: entry.scopes.map(parseScope) }));
    this.#cache = { sig: readSig, entries: parsed };
    return parsed;
  }

  /** Reads and validates the index through one descriptor. A missing file is an empty index. */
  async #readIndex(): Promise<{ entries: Entry[]; sig: string }> {
    let handle: FileHandle | undefined;
    let text: string;
    let sig: string;
    try {
      handle = await open(this.indexPath, READ_FLAGS);
      const st = await handle.stat({ bigint: true });
      if (!st.isFile()) throw new Error('not a regular file');
      sig = signature(st);
      if (st.size > BigInt(MAX_INDEX_BYTES)) {
        throw new IdentityError(
          `${this.indexPath}: identity index is ${st.size} bytes, over the limit of ${MAX_INDEX_BYTES}: it is damaged or not gemfetch's; ` +
            'no identity is sent while it is there (move it aside, or fetch with --no-id)',
          { path: this.indexPath },
        );
      }
      text = await handle.readFile('utf8');
    } catch (err) {
      if (err instanceof IdentityError) throw err;
      if (errnoCode(err) === 'ENOENT') return { entries: [], sig: 'missing' };
      throw this.#fileError('cannot read', this.indexPath, err);
    } finally {
      await handle?.close().catch(() => {});
    }
    return { entries: this.#parseIndex(text), sig };
  }

  #parseIndex(text: string): Entry[] {
    const damaged = (why: string): IdentityError =>
      new IdentityError(
        `${this.indexPath}: damaged identity index (${why}): which URL gets which identity cannot be told, so no request is sent ` +
          'while it is damaged. Repair the file or move it aside (its identities are the NAME.crt/NAME.key files beside it), or fetch with --no-id.',
        { path: this.indexPath },
      );
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw damaged(`not JSON: ${(err as Error).message}`);
    }
    const root = data as { version?: unknown; identities?: unknown };
    if (typeof root !== 'object' || root === null || root.version !== 1 || !Array.isArray(root.identities)) throw damaged('expected {"version": 1, "identities": [...]}');
    const seen = new Set<string>();
    return root.identities.map((raw: unknown, i: number): Entry => {
      const e = raw as Partial<Record<keyof Entry, unknown>>;
      const where = `identity #${i + 1}`;
      if (typeof e !== 'object' || e === null) throw damaged(`${where} is not an object`);
      if (!isValidIdentityName(e.name)) throw damaged(`${where} has an invalid name`);
      if (seen.has(e.name)) throw damaged(`identity ${e.name} is listed twice`);
      seen.add(e.name);
      if (typeof e.fingerprint !== 'string' || !FINGERPRINT_RE.test(e.fingerprint)) throw damaged(`identity ${e.name} has no valid fingerprint`);
      if (typeof e.commonName !== 'string') throw damaged(`identity ${e.name} has no commonName`);
      for (const field of ['notAfter', 'created'] as const) {
        const value = e[field];
        if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw damaged(`identity ${e.name} has no valid ${field}`);
      }
      if (!Array.isArray(e.scopes) || !e.scopes.every((s) => typeof s === 'string')) throw damaged(`identity ${e.name} has no valid scopes list`);
      for (const s of e.scopes as string[]) {
        try {
          parseScope(s);
        } catch {
          throw damaged(`identity ${e.name} has an invalid scope ${JSON.stringify(s)}`);
        }
      }
      return {
        name: e.name,
        fingerprint: e.fingerprint,
        commonName: e.commonName,
        notAfter: e.notAfter as string,
        created: e.created as string,
        scopes: [...(e.scopes as string[])],
      };
    });
  }

  /** Runs `change` on the current index under the lock; writes the index when it says so. */
  #change<T>(change: (entries: Entry[]) => { result: T; write: boolean } | Promise<{ result: T; write: boolean }>): Promise<T> {
    const task = this.#writeQueue.then(async () => {
      try {
        await makePrivateDirectories(this.dir);
      } catch (err) {
        throw this.#fileError('cannot create directory', this.dir, err);
      }
      const lockPath = `${this.indexPath}.lock`;
      const lock = await acquireFileLock(lockPath, {
        staleMs: this.#lockStaleMs,
        timeoutMs: this.#lockTimeoutMs,
        timedOut: () =>
          new IdentityError(`timed out after ${this.#lockTimeoutMs} ms waiting for lock file ${lockPath} of the identity store ${this.dir}`, { path: lockPath }),
        cannotCreate: (reason, cause) => new IdentityError(`cannot create lock file ${lockPath} of the identity store: ${reason}`, { path: lockPath, cause }),
      });
      try {
        const { entries } = await this.#readIndex();
        const { result, write } = await change(entries);
        if (write) await this.#writeFile(this.indexPath, `${JSON.stringify({ version: 1, identities: entries }, null, 2)}\n`);
        return result;
      } finally {
        await lock.release();
      }
    });
    this.#writeQueue = task.catch(() => {});
    return task;
  }

  /** Writes `path` atomically, mode 0600: a temporary file in the same directory, fsynced, renamed over it. */
  async #writeFile(path: string, data: string): Promise<void> {
    const temp = join(dirname(path), `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    let handle: FileHandle | undefined;
    try {
      handle = await open(temp, 'wx', 0o600);
      await handle.writeFile(data, 'utf8');
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(temp, path);
    } catch (err) {
      await handle?.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw this.#fileError('cannot write', path, err);
    }
    await syncDirectory(dirname(path));
  }

  #unknown(name: string): IdentityError {
    return new IdentityError(`no identity named ${JSON.stringify(name)} in ${this.dir} (see \`gemfetch id list\`)`, { identity: name });
  }

  #fileError(action: string, path: string, err: unknown): IdentityError {
    const reason = err instanceof Error ? err.message : String(err);
    return new IdentityError(`${action} ${path} (identity store): ${reason}`, { path, cause: err });
  }
}

function infoOf(entry: Entry): IdentityInfo {
  return {
    name: entry.name,
    fingerprint: entry.fingerprint,
    commonName: entry.commonName,
    notAfter: new Date(entry.notAfter),
    created: new Date(entry.created),
    scopes: [...entry.scopes],
  };
}

function checkName(name: string): void {
  if (!isValidIdentityName(name)) {
    throw new InvalidOptionError(
      `invalid identity name ${JSON.stringify(name)}: use 1 to ${MAX_NAME_LENGTH} letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
}

/** Reads a PEM file of the store, at most {@link MAX_PEM_BYTES}. */
async function readBounded(path: string, what: string, name: string): Promise<string> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, READ_FLAGS);
    const st = await handle.stat();
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_PEM_BYTES) throw new Error(`${st.size} bytes, over the limit of ${MAX_PEM_BYTES}`);
    if (what === 'private key' && (st.mode & 0o077) !== 0) {
      // As ssh does with an unprotected key: the store writes keys 0600, so another mode means someone changed it.
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new IdentityError(
        `${path}: the private key of identity ${name} is readable by other users (mode ${mode}, must be 0600): it is not used; fix it with \`chmod 600 ${path}\``,
        { path, identity: name },
      );
    }
    return await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    const reason = errnoCode(err) === 'ENOENT' ? 'the file is missing' : err instanceof Error ? err.message : String(err);
    throw new IdentityError(`${path}: cannot read the ${what} of identity ${name} (${reason})`, { path, identity: name, cause: err });
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** Parses one PEM certificate; `message` makes the error: IdentityError naming `path` when given, else InvalidOptionError. */
function parseCertificate(text: string, message: () => string, name: string, path?: string): X509Certificate {
  try {
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no certificate');
    return new X509Certificate(text);
  } catch (err) {
    if (path === undefined) throw new InvalidOptionError(message());
    throw new IdentityError(message(), { path, identity: name, cause: err });
  }
}

function parseKey(text: string, message: () => string, name: string, path?: string): KeyObject {
  try {
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error('no private key');
    return createPrivateKey(text);
  } catch (err) {
    if (path === undefined) throw new InvalidOptionError(message());
    throw new IdentityError(message(), { path, identity: name, cause: err });
  }
}

function spkiFingerprint(cert: X509Certificate): string {
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

function commonNameOf(subject: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? subject.replace(/\n/g, ', ');
}

/** The signature of a file (`missing` when it cannot be stat'ed: reading it then says why). */
async function fileSignature(path: string): Promise<string> {
  try {
    return signature(await stat(path, { bigint: true }));
  } catch {
    return 'missing';
  }
}

function signature(st: BigIntStats): string {
  // The mode too: a chmod changes neither size nor mtime, and a key made readable by others must not stay in use.
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.mode}`;
}
