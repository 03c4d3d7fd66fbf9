/**
 * MIME type parsing for the META of 2x responses. Lenient: never throws.
 */

/** A parsed MIME type. */
export interface MimeType {
  /** Lowercased "type/subtype" (or the lowercased, trimmed text before the first ";" if it is not one). */
  essence: string;
  /** Parameters: names lowercased, values unquoted with case kept. The first occurrence of a name wins. */
  params: ReadonlyMap<string, string>;
  /** Lowercased `charset` parameter if present and non-empty ("utf-8" when META is empty). */
  charset: string | undefined;
  /** `lang` parameter as given (a BCP 47 list such as "en,fr"), if present and non-empty. */
  lang: string | undefined;
}

/** The MIME type an empty 2x META stands for. */
export const DEFAULT_MIME = 'text/gemini';

const WS = ' \t';

function isWs(ch: string | undefined): boolean {
  return ch !== undefined && WS.includes(ch);
}

/** Reads a quoted string starting at `s[start] === '"'`; returns its unescaped value and the index after it. */
function readQuoted(s: string, start: number): { value: string; end: number } {
  let value = '';
  let i = start + 1;
  while (i < s.length && s[i] !== '"') {
    if (s[i] === '\\' && i + 1 < s.length) i++;
    value += s[i];
    i++;
  }
  return { value, end: i + 1 };
}

/** Splits the parameter section (after the essence) into name/value pairs, honouring quotes. */
function parseParams(s: string, start: number): Map<string, string> {
  const params = new Map<string, string>();
  let i = start;
  while (i < s.length) {
    // s[i] is ";" or we are at the start of a parameter.
    if (s[i] === ';') i++;
    while (isWs(s[i])) i++;
    let nameEnd = i;
    while (nameEnd < s.length && s[nameEnd] !== '=' && s[nameEnd] !== ';') nameEnd++;
    const name = s.slice(i, nameEnd).trim().toLowerCase();
    i = nameEnd;
    if (s[i] !== '=') continue; // no value: ignored
    i++;
    while (isWs(s[i])) i++;
    let value: string;
    if (s[i] === '"') {
      const q = readQuoted(s, i);
      value = q.value;
      i = q.end;
      while (i < s.length && s[i] !== ';') i++; // junk after the closing quote is ignored
    } else {
      let end = i;
      while (end < s.length && s[end] !== ';') end++;
      value = s.slice(i, end).trim();
      i = end;
    }
    if (name !== '' && !params.has(name)) params.set(name, value);
  }
  return params;
}

/**
 * Parses a MIME type such as `text/gemini; charset=UTF-8; lang="en,fr"`.
 * Spaces around ";" and "=" are allowed, names are case-insensitive, quoted
 * values may contain ";" and backslash escapes. Never throws: odd input gives
 * an odd `essence`. An empty (or all-whitespace) META means
 * `text/gemini; charset=utf-8` (`params` then stays empty).
 */
export function parseMimeType(meta: string): MimeType {
  const semi = meta.indexOf(';');
  const essence = (semi < 0 ? meta : meta.slice(0, semi)).trim().toLowerCase();
  if (essence === '' && meta.trim() === '') {
    return { essence: DEFAULT_MIME, params: new Map(), charset: 'utf-8', lang: undefined };
  }
  const params = semi < 0 ? new Map<string, string>() : parseParams(meta, semi);
  return {
    essence,
    params,
    charset: params.get('charset')?.toLowerCase() || undefined,
    lang: params.get('lang') || undefined,
  };
}
