/**
 * Writing a body to a file safely: the file is written as `NAME.partial` and
 * renamed to `NAME` only once the response is known to be complete; names
 * derived from URLs never leave the chosen directory.
 */
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
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
 * The partial file is opened without following a symbolic link at its name
 * (O_NOFOLLOW) and truncated; the rename replaces whatever is at `finalPath`.
 */
export class OutputFile {
  readonly finalPath: string;
  readonly partialPath: string;
  #handle: FileHandle | undefined;
  #bytes = 0;

  private constructor(finalPath: string, handle: FileHandle) {
    this.finalPath = finalPath;
    this.partialPath = finalPath + PARTIAL_SUFFIX;
    this.#handle = handle;
  }

  /**
   * Creates the parent directory if needed and opens `finalPath.partial`.
   * @throws the file-system error (the caller reports it as an I/O failure).
   */
  static async open(finalPath: string): Promise<OutputFile> {
    await mkdir(path.dirname(finalPath), { recursive: true });
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | (fsConstants.O_NOFOLLOW ?? 0);
    const handle = await open(finalPath + PARTIAL_SUFFIX, flags, 0o666);
    return new OutputFile(finalPath, handle);
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

  /** Closes the file; renames it to `finalPath` when `complete`, keeps the `.partial` otherwise. */
  async finish(complete: boolean): Promise<OutputResult> {
    await this.#close();
    if (complete) {
      await rename(this.partialPath, this.finalPath);
      return { path: this.finalPath, partial: false, bytes: this.#bytes };
    }
    return { path: this.partialPath, partial: true, bytes: this.#bytes };
  }

  /** Closes and deletes the partial file (nothing worth keeping, e.g. no 2x response). */
  async discard(): Promise<void> {
    await this.#close();
    await unlink(this.partialPath).catch(() => {});
  }

  async #close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
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
