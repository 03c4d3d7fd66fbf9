/**
 * Mirroring response bodies into a directory, never outside it.
 *
 * Layout: `ROOT/HOST[_PORT]/PATH`, where PATH keeps the URL's percent-encoded
 * segments as file names (so nothing is decoded into `/`, `..` or control
 * characters), a path ending in `/` gets the file name `index.gmi` for
 * text/gemini and `index` otherwise, and a query is appended to the last name
 * as `%3F` + the query with `/` written `%2F`. An empty segment (`//`) becomes
 * `%`. Every resolved path is checked to stay inside ROOT.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { GeminiUrl } from './url.js';

/**
 * The file a URL's body is mirrored to, inside `root`; undefined when the URL
 * cannot be mapped inside it (never happens for URLs from `parseGeminiUrl`;
 * the check is a safety net).
 */
export function mirrorPath(root: string, url: GeminiUrl, mimeType: string | null = null): string | undefined {
  const hostDir = url.port === 1965 ? url.host : `${url.host}_${url.port}`;
  const segments = url.path.split('/').slice(1);
  let last = segments.pop() ?? '';
  if (last === '') last = mimeType === 'text/gemini' ? 'index.gmi' : 'index';
  if (url.hasQuery) last += `%3F${url.query.replace(/\//g, '%2F')}`;
  const parts = [hostDir.replace(/[:/\\]/g, '_'), ...segments.map(safeSegment), safeSegment(last)];
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

/**
 * Writes `body` to the mirror file of `url` (via a temporary file renamed
 * into place) and resolves with its path, or with undefined when the URL
 * cannot be mirrored (outside the root, or a file already stands where a
 * directory is needed). Never rejects for those; rejects for other I/O errors.
 */
export async function writeMirror(root: string, url: GeminiUrl, body: Buffer, mimeType: string | null): Promise<string | undefined> {
  const target = mirrorPath(root, url, mimeType);
  if (!target) return undefined;
  try {
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.gemfetch-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`;
    await fs.writeFile(temporary, body);
    try {
      await fs.rename(temporary, target);
    } catch (err) {
      await fs.rm(temporary, { force: true });
      throw err;
    }
    return target;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
}
