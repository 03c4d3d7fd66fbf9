/**
 * Writing a body to a file safely: the file is written as `NAME.partial` and
 * renamed to `NAME` only once the response is known to be complete; names
 * derived from URLs never leave the chosen directory.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, lstat, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { isatty } from 'node:tty';
import { StorageError } from '../errors.js';
import { makeDirectory } from '../files/safe-dirs.js';
import { UsageError } from './usage-error.js';

/** Suffix of a file still being written, or kept because the response was incomplete. */
export const PARTIAL_SUFFIX = '.partial';

const MAX_NAME_BYTES = 200; // leaves room for ".partial" under the usual 255-byte limit

const EXTENSIONS: Readonly<Record<string, string>> = {
  'text/gemini': '.gmi',
  'text/plain': '.txt',
  'text/html': '.html',
  'text/markdown': '.md',
  'application/json': '.json',
  'application/pdf': '.pdf',
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/gif': '.gif',
  'application/atom+xml': '.xml',
};

/**
 * A file name for the body of `url`, from the last segment of its path,
 * percent-decoded, made safe to use in a shell and visible in a listing.
 * Guarantees the result is a single, non-empty path segment of at most 200
 * bytes where:
 * - `/`, `\`, control, format (bidi overrides such as U+202E, zero-width
 *   characters), private-use and unassigned characters, line and paragraph
 *   separators and every space other than U+0020 are replaced by `_`;
 * - leading and trailing spaces are removed; a leading run of `.`, `-` or `~`
 *   becomes one `_` (no dotfile such as `.bashrc`, nothing a command takes
 *   for an option such as `-rf`, no `~` expansion); `.` and `..` become `index`;
 * - a name ending in `.partial` ends in `_partial` instead (that suffix only
 *   ever marks an incomplete body).
 * An empty result (`/`, `/dir/`) gives `index` plus an extension for
 * `mimeType` (`index.gmi` for text/gemini).
 */
export function fileNameFromUrl(url: string, mimeType?: string): string {
  const pathPart = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(url)?.[1] ?? '';
  const segment = pathPart.slice(pathPart.lastIndexOf('/') + 1);
  let name = percentDecode(segment).replace(UNSAFE_CHARACTERS, '_').trim();
  if (/^\.+$/.test(name)) name = '';
  name = name.replace(/^[.\-~]+/, '_').replace(/\.partial$/, '_partial');
  name = truncateUtf8(name, MAX_NAME_BYTES);
  if (name === '') name = `index${(mimeType && EXTENSIONS[mimeType]) ?? ''}`;
  return name;
}

/** Characters never kept in a file name: separators, invisible or misleading ones (see {@link fileNameFromUrl}). */
const UNSAFE_CHARACTERS = /[\p{C}\p{Zl}\p{Zp}/\\]|[^\S ]/gu;

/**
 * `name` resolved inside `dir`, refusing anything that would land outside it
 * (absolute names, `..` segments) or on `dir` itself.
 * @throws UsageError when the result would not be strictly inside `dir`.
 */
export function resolveInside(dir: string, name: string): string {
  const base = path.resolve(dir);
  const target = path.resolve(base, name);
  const relative = path.relative(base, target);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new UsageError(`refusing to write ${JSON.stringify(name)}: it would be outside the output directory ${base}`);
  }
  return target;
}

/** Options of {@link OutputFile.open}. */
export interface OutputFileOptions {
  /**
   * Never replace an existing file (for names taken from URLs, as wget does
   * without -N/-nc): when `NAME` or `NAME.partial` exists, or `NAME` is in
   * `claimed`, the body goes to the first free `NAME.1`, `NAME.2`... (up to
   * {@link MAX_NUMBERED_NAMES}); the finished file is linked into place, so a
   * file created meanwhile is not replaced either.
   */
  noOverwrite?: boolean;
  /** Final names already used by this run; the chosen name is added. */
  claimed?: Set<string>;
}

/** Highest number tried for `NAME.N` when `NAME` is taken. */
export const MAX_NUMBERED_NAMES = 9999;

/** What {@link OutputFile.finish} did. */
export interface OutputResult {
  /** Where the body now is: `NAME` when complete, `NAME.partial` otherwise (always `NAME` for a device or FIFO, see {@link OutputFile}). */
  path: string;
  /** True when the file was kept as `.partial`. */
  partial: boolean;
  bytes: number;
}

/**
 * A body being written to `finalPath` through `finalPath.partial`.
 *
 * The file is created under a fresh random name in the target directory with
 * O_CREAT|O_EXCL|O_NOFOLLOW (mode 0644 minus the umask), so it is always a new
 * file of ours, then renamed to `finalPath.partial` before any byte is
 * written. Whatever was at `finalPath.partial` (a previous partial body, or a
 * hard link to a file elsewhere) only loses that directory entry: the file it
 * pointed to is never opened, truncated or written. A symbolic link there is
 * refused. On completion the file is renamed to `finalPath`, again replacing
 * only the directory entry.
 *
 * Except when `finalPath` already is a device, FIFO or socket (`-o /dev/null`,
 * `-o >(sha256sum)`, a named pipe): renaming a file over it would replace the
 * device node or pipe itself (as root, /dev/null would become a regular file),
 * so the body is written straight into it, and never deleted or renamed; the
 * verdict is then only in the exit code and the record (`complete`).
 */
export class OutputFile {
  /** The path asked for; {@link finalPath} differs when it was taken (see {@link OutputFileOptions.noOverwrite}). */
  readonly requestedPath: string;
  readonly finalPath: string;
  readonly partialPath: string;
  #handle: FileHandle | undefined;
  /** Device and inode of our file, to make sure `partialPath` is still ours before renaming or deleting it. */
  readonly #identity: FileIdentity;
  readonly #noOverwrite: boolean;
  /** Writing straight into a device, FIFO or socket: no `.partial`, no rename, no delete. */
  readonly #direct: boolean;
  #bytes = 0;

  private constructor(requestedPath: string, finalPath: string, handle: FileHandle, identity: FileIdentity, noOverwrite: boolean, direct = false) {
    this.requestedPath = requestedPath;
    this.finalPath = finalPath;
    this.#direct = direct;
    this.partialPath = direct ? finalPath : finalPath + PARTIAL_SUFFIX;
    this.#handle = handle;
    this.#identity = identity;
    this.#noOverwrite = noOverwrite;
  }

  /**
   * Creates the parent directory if needed (one component at a time, see
   * safe-dirs.ts), chooses the final name (see {@link OutputFileOptions}),
   * creates a new empty file and puts it at `finalPath.partial` (replacing any
   * entry there, see the class).
   * @throws a StorageError when the directory cannot be created, the
   *   file-system error (the caller reports it as an I/O failure), or an
   *   error with code `ELOOP` when `finalPath.partial` is a symbolic link.
   */
  static async open(requestedPath: string, options: OutputFileOptions = {}): Promise<OutputFile> {
    if (options.noOverwrite !== true && (await isSpecialFile(requestedPath))) {
      const handle = await open(requestedPath, fsConstants.O_WRONLY | fsConstants.O_NOCTTY);
      return new OutputFile(requestedPath, requestedPath, handle, { dev: 0n, ino: 0n }, false, true);
    }
    const dir = await makeDirectory(path.dirname(requestedPath));
    const noOverwrite = options.noOverwrite === true;
    const finalPath = noOverwrite ? await freeName(requestedPath, options.claimed) : requestedPath;
    options.claimed?.add(finalPath);
    const partialPath = finalPath + PARTIAL_SUFFIX;
    await refuseSymbolicLink(partialPath);
    const { tempPath, handle } = await createUniqueFile(dir);
    try {
      const { dev, ino } = await handle.stat({ bigint: true });
      await rename(tempPath, partialPath);
      return new OutputFile(requestedPath, finalPath, handle, { dev, ino }, noOverwrite);
    } catch (err) {
      await handle.close().catch(() => {});
      await unlink(tempPath).catch(() => {});
      throw err;
    }
  }

  /** Appends a chunk (resolves once written). */
  async write(chunk: Uint8Array): Promise<void> {
    if (!this.#handle) throw new Error('output file already closed');
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.#handle.write(chunk, offset, chunk.length - offset);
      offset += bytesWritten;
    }
    this.#bytes += chunk.length;
  }

  /**
   * Closes the file; renames it to `finalPath` when `complete`, keeps the `.partial` otherwise.
   * @throws when `complete` but `finalPath.partial` is no longer our file (it was replaced during the fetch), or
   *   (with `noOverwrite`) a file appeared at `finalPath` during the fetch: nothing is renamed then.
   */
  async finish(complete: boolean): Promise<OutputResult> {
    await this.#close();
    if (this.#direct) return { path: this.finalPath, partial: false, bytes: this.#bytes };
    if (complete) {
      if (!(await this.#partialIsOurs())) {
        throw new Error(`${this.partialPath} was replaced by another file during the fetch; not renaming it to ${this.finalPath}`);
      }
      if (this.#noOverwrite) await moveWithoutReplacing(this.partialPath, this.finalPath);
      else await rename(this.partialPath, this.finalPath);
      return { path: this.finalPath, partial: false, bytes: this.#bytes };
    }
    return { path: this.partialPath, partial: true, bytes: this.#bytes };
  }

  /** Closes and deletes the partial file (nothing worth keeping, e.g. no 2x response), unless it is no longer ours. */
  async discard(): Promise<void> {
    await this.#close();
    if (this.#direct) return;
    if (await this.#partialIsOurs()) await unlink(this.partialPath).catch(() => {});
  }

  async #partialIsOurs(): Promise<boolean> {
    try {
      const { dev, ino } = await lstat(this.partialPath, { bigint: true });
      return dev === this.#identity.dev && ino === this.#identity.ino;
    } catch {
      return false;
    }
  }

  async #close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}

/** The first of `wanted`, `wanted.1`, `wanted.2`... that is not claimed and exists neither as is nor as `.partial`. */
async function freeName(wanted: string, claimed: ReadonlySet<string> | undefined): Promise<string> {
  for (let n = 0; n <= MAX_NUMBERED_NAMES; n++) {
    const candidate = n === 0 ? wanted : `${wanted}.${n}`;
    if (claimed?.has(candidate)) continue;
    if (!(await exists(candidate)) && !(await exists(candidate + PARTIAL_SUFFIX))) return candidate;
  }
  throw new Error(`${wanted} and ${wanted}.1 to ${wanted}.${MAX_NUMBERED_NAMES} all exist; not overwriting any of them`);
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'ENOENT',
  );
}

/** Hard links for which the file system has no support: fall back to checking, then renaming. */
const NO_LINK_SUPPORT = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/** A file appeared at the final name during the fetch (with `noOverwrite`): the complete body stays in {@link keptIn}. */
export class FinalNameTakenError extends Error {
  readonly keptIn: string;

  constructor(finalPath: string, keptIn: string) {
    super(`${finalPath} appeared during the fetch; not replacing it (the body stays in ${keptIn})`);
    this.keptIn = keptIn;
  }
}

/** Renames `from` to `to` unless `to` exists (link then unlink: atomic where hard links work). */
async function moveWithoutReplacing(from: string, to: string): Promise<void> {
  const appeared = (): Error => new FinalNameTakenError(to, from);
  try {
    await link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') throw appeared();
    if (!NO_LINK_SUPPORT.has(code)) throw err;
    if (await exists(to)) throw appeared();
    await rename(from, to);
    return;
  }
  await unlink(from);
}

interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

/**
 * Refuses a symbolic link at `partialPath`, as opening it with O_NOFOLLOW
 * used to: it was planted, so say so rather than silently replace it. (The
 * rename in {@link OutputFile.open} is what keeps the link's target safe; this
 * check only reports the oddity.)
 */
async function refuseSymbolicLink(partialPath: string): Promise<void> {
  const stats = await lstat(partialPath).catch(() => undefined);
  if (stats?.isSymbolicLink()) {
    throw Object.assign(new Error(`${partialPath} is a symbolic link; refusing to replace it`), { code: 'ELOOP' });
  }
}

const TEMP_ATTEMPTS = 10;

/**
 * Creates a new, empty file with a random name in `dir` (O_EXCL: never an
 * existing file or link; O_NOFOLLOW as well, for systems where O_EXCL alone
 * would not refuse a dangling symbolic link).
 */
async function createUniqueFile(dir: string): Promise<{ tempPath: string; handle: FileHandle }> {
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0);
  for (let attempt = 1; ; attempt++) {
    const tempPath = path.join(dir, `.gemfetch-${randomBytes(9).toString('hex')}.tmp`);
    try {
      return { tempPath, handle: await open(tempPath, flags, 0o644) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= TEMP_ATTEMPTS) throw err;
    }
  }
}

function percentDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // Invalid escapes or UTF-8: decode what is valid byte by byte.
    const bytes: number[] = [];
    for (let i = 0; i < segment.length; i++) {
      const hex = /^%([0-9a-f]{2})/i.exec(segment.slice(i));
      if (hex) {
        bytes.push(parseInt(hex[1]!, 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(segment[i]!, 'utf8'));
      }
    }
    return Buffer.from(bytes).toString('utf8');
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let out = '';
  for (const ch of text) {
    if (Buffer.byteLength(out + ch, 'utf8') > maxBytes) break;
    out += ch;
  }
  return out;
}

/** Ensures a user-given `-o` path is usable: not empty, not a directory name. */
export function checkOutputPath(file: string): void {
  if (file.trim() === '') throw new UsageError('-o needs a file name (or - for standard output)');
  if (file.endsWith('/') || file.endsWith(path.sep)) throw new UsageError(isDirectoryMessage(file));
}

/**
 * Prepares the file `-o` names (`file`, already joined to --output-dir):
 * refuses an existing directory there or at `file.partial`, and creates its parent directory, so
 * that both fail before anything is fetched.
 * @throws UsageError when `file` is a directory; StorageError (naming `-o`
 *   and the directory) when its directory cannot be created.
 */
export async function prepareOutputPath(option: string, file: string): Promise<void> {
  if (await isDirectory(file)) throw new UsageError(isDirectoryMessage(option));
  if (await isDirectory(file + PARTIAL_SUFFIX)) {
    throw new UsageError(`-o ${option}: ${file}${PARTIAL_SUFFIX} is a directory, and the body is written there first: move it away or choose another name`);
  }
  if (await isTerminal(file)) throw new UsageError(`-o ${option}: that is a terminal; leave out -o to show the body there (rendered, control characters removed)`);
  await prepareDirectory(`-o ${option}`, path.dirname(file));
}

/**
 * Creates `dir` (see safe-dirs.ts) before anything is fetched.
 * @throws StorageError whose message starts with `what` (the option and its value).
 */
export async function prepareDirectory(what: string, dir: string): Promise<void> {
  try {
    await makeDirectory(dir);
  } catch (err) {
    if (!(err instanceof StorageError)) throw err;
    throw new StorageError(`${what}: ${err.message}`, err.path, err.cause);
  }
}

/** True when `file` (links followed) is a terminal: `-o` writes raw bytes, which must not reach one. */
async function isTerminal(file: string): Promise<boolean> {
  if (!(await stat(file).then((s) => s.isCharacterDevice(), () => false))) return false;
  const handle = await open(file, fsConstants.O_WRONLY | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return false;
  try {
    return isatty(handle.fd);
  } finally {
    await handle.close();
  }
}

/** True when `file` (links followed) exists and is neither a regular file nor a directory: a device, FIFO or socket. */
async function isSpecialFile(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => !s.isFile() && !s.isDirectory(),
    () => false,
  );
}

async function isDirectory(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

function isDirectoryMessage(option: string): string {
  return `-o ${option}: that is a directory; name a file (-o DIR/NAME), or use --output-dir DIR to save under names from the URLs`;
}
