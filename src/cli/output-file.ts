/**
 * Writing a body to a file safely: the file is written as `NAME.partial` and
 * renamed to `NAME` only once the response is known to be complete; names
 * derived from URLs never leave the chosen directory.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
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
 * percent-decoded. Guarantees the result is a single, non-empty path segment:
 * no `/`, `\`, NUL or other control characters (replaced by `_`), never `.` or
 * `..`, no leading `.` (so a URL cannot plant a dotfile such as `.bashrc`), at
 * most 200 bytes. An empty segment (`/`, `/dir/`) gives `index` plus an
 * extension for `mimeType` (`index.gmi` for text/gemini).
 */
export function fileNameFromUrl(url: string, mimeType?: string): string {
  const pathPart = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/i.exec(url)?.[1] ?? '';
  const segment = pathPart.slice(pathPart.lastIndexOf('/') + 1);
  let name = percentDecode(segment)
    .replace(/[\u0000-\u001f\u007f-\u009f/\\]/g, '_')
    .trim();
  if (/^\.+$/.test(name)) name = '';
  name = name.replace(/^\.+/, '_');
  name = truncateUtf8(name, MAX_NAME_BYTES);
  if (name === '') name = `index${(mimeType && EXTENSIONS[mimeType]) ?? ''}`;
  return name;
}

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

/** What {@link OutputFile.finish} did. */
export interface OutputResult {
  /** Where the body now is: `NAME` when complete, `NAME.partial` otherwise. */
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
 */
export class OutputFile {
  readonly finalPath: string;
  readonly partialPath: string;
  #handle: FileHandle | undefined;
  /** Device and inode of our file, to make sure `partialPath` is still ours before renaming or deleting it. */
  readonly #identity: FileIdentity;
  #bytes = 0;

  private constructor(finalPath: string, handle: FileHandle, identity: FileIdentity) {
    this.finalPath = finalPath;
    this.partialPath = finalPath + PARTIAL_SUFFIX;
    this.#handle = handle;
    this.#identity = identity;
  }

  /**
   * Creates the parent directory if needed, creates a new empty file and puts
   * it at `finalPath.partial` (replacing any entry there, see the class).
   * @throws the file-system error (the caller reports it as an I/O failure),
   *   or an error with code `ELOOP` when `finalPath.partial` is a symbolic link.
   */
  static async open(finalPath: string): Promise<OutputFile> {
    const dir = path.dirname(finalPath);
    await mkdir(dir, { recursive: true });
    const partialPath = finalPath + PARTIAL_SUFFIX;
    await refuseSymbolicLink(partialPath);
    const { tempPath, handle } = await createUniqueFile(dir);
    try {
      const { dev, ino } = await handle.stat({ bigint: true });
      await rename(tempPath, partialPath);
      return new OutputFile(finalPath, handle, { dev, ino });
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
   * @throws when `complete` but `finalPath.partial` is no longer our file (it was replaced during the fetch): nothing is renamed then.
   */
  async finish(complete: boolean): Promise<OutputResult> {
    await this.#close();
    if (complete) {
      if (!(await this.#partialIsOurs())) {
        throw new Error(`${this.partialPath} was replaced by another file during the fetch; not renaming it to ${this.finalPath}`);
      }
      await rename(this.partialPath, this.finalPath);
      return { path: this.finalPath, partial: false, bytes: this.#bytes };
    }
    return { path: this.partialPath, partial: true, bytes: this.#bytes };
  }

  /** Closes and deletes the partial file (nothing worth keeping, e.g. no 2x response), unless it is no longer ours. */
  async discard(): Promise<void> {
    await this.#close();
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
  if (file.endsWith('/') || file.endsWith(path.sep)) throw new UsageError(`-o ${file}: that is a directory; use --output-dir DIR to choose a directory`);
}
