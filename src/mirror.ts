/**
 * Mirroring response bodies into a directory, never outside it.
 *
 * Layout: `ROOT/HOST[_PORT]/PATH`, where PATH keeps the URL's percent-encoded
 * segments as file names (so nothing is decoded into `/`, `..` or control
 * characters), a path ending in `/` gets the file name `index.gmi` for
 * text/gemini and `index` otherwise, and a query is appended to the last name
 * as `%3F` + the query with `/` written `%2F`. An empty segment (`//`) becomes
 * `%`. A name longer than {@link MAX_MIRROR_NAME_BYTES} bytes is cut and ends
 * with `#` + 16 hex digits of its SHA-256 (`#` never occurs in a URL path or
 * query, so such a name cannot be another URL's), which keeps every name,
 * temporary ones included, within the usual 255-byte limit of file systems.
 * Every resolved path is checked to stay inside ROOT.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { GeminiUrl } from './url.js';

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
  const parts = [hostDir.replace(/[:/\\]/g, '_'), ...segments.map(safeSegment), safeSegment(last)].map(boundedName);
  const resolvedRoot = path.resolve(root);
  const target = path.resolve(resolvedRoot, ...parts);
  const relative = path.relative(resolvedRoot, target);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return undefined;
  return target;
}

function safeSegment(segment: string): string {
  if (segment === '') return '%';
  if (segment === '.' || segment === '..') return segment.replace(/\./g, '%2E');
  return segment.replace(/[\\\u0000-\u001f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
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

/** What {@link writeMirror} did: the file written, or why nothing was. */
export type MirrorResult = { path: string; error: null } | { path: null; error: string };

/**
 * Writes `body` to the mirror file of `url` (via a temporary file in the same
 * directory, renamed into place). Never rejects: resolves with the file's
 * path, or with an error message (naming the file) when the URL cannot be
 * mirrored — outside the root, a file standing where a directory is needed
 * (or the reverse: `/a` and `/a/b` cannot both be mirrored), or any I/O error
 * (permissions, disk full, name too long...). A failed write leaves no
 * temporary file behind when it can be removed.
 */
export async function writeMirror(root: string, url: GeminiUrl, body: Buffer, mimeType: string | null): Promise<MirrorResult> {
  const target = mirrorPath(root, url, mimeType);
  if (!target) return { path: null, error: `${url.href} maps outside the mirror directory ${root}` };
  try {
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.gemfetch-${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
    try {
      await fs.writeFile(temporary, body);
      await fs.rename(temporary, target);
    } catch (err) {
      await fs.rm(temporary, { force: true }).catch(() => {});
      throw err;
    }
    return { path: target, error: null };
  } catch (err) {
    return { path: null, error: `cannot mirror ${url.href} to ${target}: ${(err as Error).message}` };
  }
}
