/**
 * The MIME type of a file to upload, guessed from its name: `gemfetch put`
 * uses it when no `--mime` is given. A short table of what capsules hold;
 * anything else is `application/octet-stream` (never a guess from content).
 */

/** The type of a name with no known extension. */
export const FALLBACK_UPLOAD_MIME = 'application/octet-stream';

const BY_EXTENSION: Readonly<Record<string, string>> = {
  gmi: 'text/gemini',
  gemini: 'text/gemini',
  txt: 'text/plain',
  md: 'text/markdown',
  html: 'text/html',
  htm: 'text/html',
  css: 'text/css',
  csv: 'text/csv',
  xml: 'application/xml',
  atom: 'application/atom+xml',
  rss: 'application/rss+xml',
  json: 'application/json',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  opus: 'audio/opus',
  flac: 'audio/flac',
  mp4: 'video/mp4',
  webm: 'video/webm',
};

/** `notes.gmi` → `text/gemini`, `photo.JPG` → `image/jpeg`, `data.bin` or `README` → {@link FALLBACK_UPLOAD_MIME}. */
export function mimeTypeForFileName(name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return FALLBACK_UPLOAD_MIME;
  return BY_EXTENSION[base.slice(dot + 1).toLowerCase()] ?? FALLBACK_UPLOAD_MIME;
}
