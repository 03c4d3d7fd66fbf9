/**
 * Mirroring response bodies into a directory, never outside it.
 *
 * Layout: `ROOT/HOST[_PORT]/PATH`, where PATH keeps the URL's percent-encoded
 * segments as file names (so nothing is decoded into `/`, `..` or control
 * characters), a path ending in `/` gets the file name `index.gmi` for
 * text/gemini and `index` otherwise, and a query is appended to the last name
 * as `%3F` + the query with `/` written `%2F`. An empty segment (`//`) becomes
 * `%`. Names stay visible and safe in a shell: a leading `.`, `-` or `~` is
 * written `%2E`, `%2D` or `%7E` (no dotfiles, nothing an option parser takes
 * for an option), and a name ending in `.partial` ends in `%2Epartial`, so
 * that suffix only ever marks an incomplete body (percent-encoding an
 * unreserved character gives an equivalent URL, RFC 3986 6.2.2.2).
 * A name longer than {@link MAX_MIRROR_NAME_BYTES} bytes is cut and ends
 * with `#` + 16 hex digits of its SHA-256 (`#` never occurs in a URL path or
 * query, so such a name cannot be another URL's), which keeps every name,
 * temporary ones included, within the usual 255-byte limit of file systems.
 * Every resolved path is checked to stay inside ROOT, and the directories
 * below ROOT are never reached through a symbolic link (see safe-dirs.ts).
 *
 * A body that did not arrive complete is saved as `NAME.partial`, never
 * under its final name.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { confirmNoLinksBelow, makeDirectory } from './safe-dirs.js';
import type { GeminiUrl } from '../protocol/url.js';

/** Suffix of a mirrored body that did not arrive complete. */
export const MIRROR_PARTIAL_SUFFIX = '.partial';

/**
 * Longest file or directory name the mirror creates, in UTF-8 bytes. With the
 * temporary suffix (at most 33 bytes) a name stays under 255 bytes.
 */
export const MAX_MIRROR_NAME_BYTES = 200;

/**
 * The file a URL's body is mirrored to, inside `root`; undefined when the URL
 * cannot be mapped inside it (never happens for URLs from `parseGeminiUrl`;
 * the check is a safety net). Every name in the result (below `root`) is at
 * most {@link MAX_MIRROR_NAME_BYTES} bytes; the whole path is not bounded
 * (a very long `root` plus a deep URL can exceed the system's path limit).
 */
export function mirrorPath(root: string, url: GeminiUrl, mimeType: string | null = null): string | undefined {
  const hostDir = url.port === 1965 ? url.host : `${url.host}_${url.port}`;
  const segments = url.path.split('/').slice(1);
  let last = segments.pop() ?? '';
  if (last === '') last = mimeType === 'text/gemini' ? 'index.gmi' : 'index';
  if (url.hasQuery) last += `%3F${url.query.replace(/\//g, '%2F')}`;
  const parts = [hostDir.replace(/[:/\\]/g, '_').replace(/^[-.~]/, '_'), ...segments.map(safeSegment), safeSegment(last)].map(boundedName);
  const resolvedRoot = path.resolve(root);
  const target = path.resolve(resolvedRoot, ...parts);
  const relative = path.relative(resolvedRoot, target);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
  return target;
}

function safeSegment(segment: string): string {
  if (segment === '') return '%';
  if (segment === '.' || segment === '..') return segment.replace(/\./g, '%2E');
  return segment
    .replace(/[\\\u0000-\u001f\u007f]/g, percentEncode)
    .replace(/^[-.~]/, percentEncode)
    .replace(/\.partial$/, '%2Epartial');
}

function percentEncode(c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

const HASH_SUFFIX_BYTES = 17; // '#' + 16 hex digits

/** `name` itself when short enough, else its head (whole characters) + `#` + 16 hex digits of its SHA-256. */
function boundedName(name: string): string {
  if (Buffer.byteLength(name, 'utf8') <= MAX_MIRROR_NAME_BYTES) return name;
  const budget = MAX_MIRROR_NAME_BYTES - HASH_SUFFIX_BYTES;
  let head = '';
  let bytes = 0;
  for (const char of name) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > budget) break;
    head += char;
    bytes += size;
  }
  return `${head}#${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

/**
 * What {@link writeMirror} did: the file written (`NAME`, or `NAME.partial`
 * for an incomplete body, then `partial` is true), or why nothing was.
 */
export type MirrorResult = { path: string; partial: boolean; error: null } | { path: null; partial: false; error: string };

/**
 * Writes `body` to the mirror file of `url`: `NAME` when `complete`,
 * `NAME.partial` otherwise (an incomplete body never sits under the final
 * name; a whole one replaces a `NAME.partial` left by an earlier cut). The
 * body goes to a new temporary file in the same directory (O_EXCL|O_NOFOLLOW)
 * that is renamed into place. Directories below `root` are created one by one
 * and must not be symbolic links, checked again once the temporary file
 * exists (a link swapped in between is caught; one swapped in during the
 * final rename is not: Node has no openat()). Never rejects: resolves with
 * the file's path, or with an error message (naming the file) when the URL
 * cannot be mirrored — outside the root, a file standing where a directory is
 * needed (or the reverse: `/a` and `/a/b` cannot both be mirrored), a
 * symbolic link in the tree, or any I/O error (permissions, disk full, name
 * too long...). A failed write leaves no temporary file behind when it can be
 * removed.
 */
export async function writeMirror(root: string, url: GeminiUrl, body: Buffer, mimeType: string | null, complete = true): Promise<MirrorResult> {
  const target = mirrorPath(root, url, mimeType);
  if (!target) return { path: null, partial: false, error: `${url.href} maps outside the mirror directory ${root}` };
  const destination = complete ? target : target + MIRROR_PARTIAL_SUFFIX;
  try {
    const dir = await makeDirectory(path.dirname(target), { trustedRoot: root });
    await writeThroughTemporary(dir, root, destination, body);
    if (complete) await removeStalePartial(target + MIRROR_PARTIAL_SUFFIX);
    return { path: destination, partial: !complete, error: null };
  } catch (err) {
    return { path: null, partial: false, error: `cannot mirror ${url.href} to ${destination}: ${(err as Error).message}` };
  }
}

const TEMPORARY_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0);

async function writeThroughTemporary(dir: string, root: string, destination: string, body: Buffer): Promise<void> {
  const temporary = `${destination}.gemfetch-${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
  try {
    const handle = await fs.open(temporary, TEMPORARY_FLAGS, 0o644);
    try {
      await handle.writeFile(body);
    } finally {
      await handle.close();
    }
    await confirmNoLinksBelow(dir, root);
    await fs.rename(temporary, destination);
  } catch (err) {
    await fs.rm(temporary, { force: true }).catch(() => {});
    throw err;
  }
}

/** Deletes `partialPath` when it is a regular file (an earlier incomplete copy); anything else is left alone. */
async function removeStalePartial(partialPath: string): Promise<void> {
  const stats = await fs.lstat(partialPath).catch(() => undefined);
  if (stats?.isFile()) await fs.unlink(partialPath).catch(() => {});
}
