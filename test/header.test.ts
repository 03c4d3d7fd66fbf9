import { describe, expect, it } from 'vitest';
import { HeaderError } from '../src/errors.js';
import {
  MAX_HEADER_BYTES,
  MAX_META_BYTES,
  describeBytes,
  findHeaderEnd,
  parseHeaderLine,
} from '../src/protocol/header.js';

function errorOf(fn: () => unknown): HeaderError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HeaderError);
    return err as HeaderError;
  }
  throw new Error('expected a HeaderError');
}

const b = (s: string | Uint8Array): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s));
const parse = (s: string | Uint8Array) => parseHeaderLine(b(s));

/** Runs the full header path (find the line end, then parse it) like the client does. */
function parseResponse(raw: string | Uint8Array) {
  const buf = b(raw);
  const end = findHeaderEnd(buf);
  if (end === null) throw new Error('no header end');
  return { header: parseHeaderLine(buf.subarray(0, end.lineEnd)), body: buf.subarray(end.bodyStart).toString() };
}

describe('constants', () => {
  it('follow the v0.16.1 limits', () => {
    expect(MAX_META_BYTES).toBe(1024);
    expect(MAX_HEADER_BYTES).toBe(1027);
  });
});

describe('parseHeaderLine: valid headers', () => {
  it('parses status, category and META', () => {
    expect(parse('20 text/gemini; charset=utf-8')).toEqual({
      status: 20,
      category: 2,
      meta: 'text/gemini; charset=utf-8',
    });
    expect(parse('51 Not found')).toEqual({ status: 51, category: 5, meta: 'Not found' });
    expect(parse('31 gemini://h.example/new')).toEqual({ status: 31, category: 3, meta: 'gemini://h.example/new' });
  });

  it('accepts a status with no separator and no META ("20\\r\\n")', () => {
    expect(parse('20')).toEqual({ status: 20, category: 2, meta: '' });
  });

  it('accepts a space and an empty META ("20 \\r\\n")', () => {
    expect(parse('20 ')).toEqual({ status: 20, category: 2, meta: '' });
  });

  it('accepts a TAB separator', () => {
    expect(parse('51\tNot found')).toEqual({ status: 51, category: 5, meta: 'Not found' });
  });

  it('removes only the single separator and keeps the rest of META as received', () => {
    expect(parse('20  text/gemini ').meta).toBe(' text/gemini ');
    expect(parse('10 Your name? ').meta).toBe('Your name? ');
  });

  it('tolerates a trailing CR left on the line', () => {
    expect(parse('20 text/plain\r')).toEqual({ status: 20, category: 2, meta: 'text/plain' });
  });

  it('decodes UTF-8 META', () => {
    expect(parse('10 Quel est votre prénom ? 😀').meta).toBe('Quel est votre prénom ? 😀');
  });

  it.each([
    [10, 1],
    [19, 1],
    [29, 2],
    [39, 3],
    [49, 4],
    [58, 5],
    [69, 6],
  ])('accepts undefined in-range status %i as category %i (egsam)', (status, category) => {
    expect(parse(`${status} meta`)).toEqual({ status, category, meta: 'meta' });
  });

  it('accepts every code from 10 to 69', () => {
    for (let code = 10; code <= 69; code++) {
      expect(parse(`${code} x`).category).toBe(Math.floor(code / 10));
    }
  });

  it('accepts META of exactly 1024 bytes', () => {
    const meta = 'é'.repeat(512);
    expect(Buffer.byteLength(meta)).toBe(1024);
    expect(parse(`20 ${meta}`).meta).toBe(meta);
  });

  it('keeps a U+FEFF that is not at the start of META', () => {
    expect(parse('20 text/plain\uFEFF').meta).toBe('text/plain\uFEFF');
  });
});

describe('parseHeaderLine: invalid headers', () => {
  it.each([
    ['', /empty/],
    ['\r', /empty/],
    ['2 text/gemini', /not two digits/],
    ['2', /not two digits/],
    ['200 OK', /not two digits/],
    ['200', /not two digits/],
    ['2000 text/gemini', /not two digits/],
    ['ab text/gemini', /not two digits/],
    ['7x hello', /not two digits/],
    ['x7 hello', /not two digits/],
    ['OK', /not two digits/],
    [' 20 text/gemini', /not two digits/],
    ['\uFEFF20 text/gemini', /not two digits/],
    ['２０ text/gemini', /not two digits/],
    ['99 huh', /out of range/],
    ['70 x', /out of range/],
    ['09 x', /out of range/],
    ['00', /out of range/],
    ['05 x', /out of range/],
    ['20text/gemini', /expected a space/],
    ['20-text/gemini', /expected a space/],
    ['20\u00a0text/gemini', /expected a space/],
    ['20 \uFEFFtext/gemini', /byte order mark/],
  ])('rejects %j', (line, reason) => {
    const err = errorOf(() => parse(line));
    expect(err.code).toBe('ERR_BAD_HEADER');
    expect(err.message).toMatch(reason);
  });

  it('rejects invalid UTF-8 in META', () => {
    for (const bytes of [
      [0x32, 0x30, 0x20, 0xff],
      [0x32, 0x30, 0x20, 0xc3],
      [0x32, 0x30, 0x20, 0xed, 0xa0, 0x80], // encoded surrogate
      [0x32, 0x30, 0x20, 0xc0, 0xaf], // overlong "/"
    ]) {
      const err = errorOf(() => parseHeaderLine(Buffer.from(bytes)));
      expect(err.code).toBe('ERR_BAD_HEADER');
      expect(err.message).toMatch(/not valid UTF-8/);
    }
  });

  it('rejects META over 1024 bytes with ERR_HEADER_TOO_LONG', () => {
    const err = errorOf(() => parse(`20 ${'x'.repeat(1025)}`));
    expect(err.code).toBe('ERR_HEADER_TOO_LONG');
    expect(err.message).toContain('1025 bytes');
    expect(err.message).toContain('1024');
  });

  it('rejects a META of 2000 spaces as too long (egsam)', () => {
    expect(errorOf(() => parse(`20 ${' '.repeat(2000)}`)).code).toBe('ERR_HEADER_TOO_LONG');
  });

  it('quotes what was received, escaped and truncated, and keeps the first 64 bytes', () => {
    const err = errorOf(() => parse(`2\u0001 ${'y'.repeat(100)}`));
    expect(err.message).toContain('received "2\\x01 yyy');
    expect(err.message).toContain('… (103 bytes)');
    expect(err.received).toEqual(b(`2\u0001 ${'y'.repeat(61)}`));
  });

  it('records the URL when given', () => {
    const err = errorOf(() => parseHeaderLine(b('xx'), { url: 'gemini://h.example/' }));
    expect(err.url).toBe('gemini://h.example/');
    expect(errorOf(() => parse('xx')).url).toBeUndefined();
  });
});

describe('describeBytes', () => {
  it('escapes control characters, quotes and backslashes', () => {
    expect(describeBytes(b('a\r\n\t"\\\u0000'))).toBe('"a\\r\\n\\t\\"\\\\\\x00"');
    expect(describeBytes(Buffer.from([0xc3, 0xa9]))).toBe('"\\xc3\\xa9"');
  });

  it('truncates to 40 characters', () => {
    expect(describeBytes(b('z'.repeat(40)))).toBe(`"${'z'.repeat(40)}"`);
    expect(describeBytes(b('z'.repeat(41)))).toBe(`"${'z'.repeat(40)}"… (41 bytes)`);
  });
});

describe('findHeaderEnd', () => {
  it('returns null until a LF arrives', () => {
    expect(findHeaderEnd(b(''))).toBeNull();
    expect(findHeaderEnd(b('20 text/gemini'))).toBeNull();
    expect(findHeaderEnd(b('20 text/gemini\r'))).toBeNull();
  });

  it('finds a CRLF line end and the body start', () => {
    expect(findHeaderEnd(b('20 text/gemini\r\n# Hi\n'))).toEqual({ lineEnd: 14, bodyStart: 16 });
  });

  it('rejects a bare LF line end (egsam: header without CR): the spec requires CRLF', () => {
    for (const raw of ['20 text/gemini\n# Hi\n', '20\n', '\n', '51 Not found\n']) {
      const err = errorOf(() => findHeaderEnd(b(raw)));
      expect(err.code).toBe('ERR_BAD_HEADER');
      expect(err.message).toContain('bare LF; Gemini requires CRLF');
    }
    const err = errorOf(() => findHeaderEnd(b('20 text/gemini\n# Hi\n'), undefined, { url: 'gemini://h.example/' }));
    expect(err.url).toBe('gemini://h.example/');
    expect(err.message).toContain('"20 text/gemini\\n"');
    expect(err.received?.toString()).toBe('20 text/gemini\n');
  });

  it('handles "20\\r\\n" and an empty line', () => {
    expect(findHeaderEnd(b('20\r\n'))).toEqual({ lineEnd: 2, bodyStart: 4 });
    expect(findHeaderEnd(b('\r\n'))).toEqual({ lineEnd: 0, bodyStart: 2 });
  });

  it('stops at the first LF even if the body holds more', () => {
    expect(parseResponse('20 text/plain\r\nline1\r\n20 not a header\r\n').body).toBe('line1\r\n20 not a header\r\n');
  });

  it('accepts a maximal header (1027 bytes + CRLF)', () => {
    const line = `20 ${'x'.repeat(MAX_META_BYTES)}`;
    expect(findHeaderEnd(b(`${line}\r\nbody`))).toEqual({ lineEnd: 1027, bodyStart: 1029 });
    expect(errorOf(() => findHeaderEnd(b(`${line}\nbody`))).code).toBe('ERR_BAD_HEADER'); // bare LF
    expect(findHeaderEnd(b(line))).toBeNull();
    expect(findHeaderEnd(b(`${line}\r`))).toBeNull();
  });

  it('throws ERR_HEADER_TOO_LONG when no LF comes within the limit plus CRLF', () => {
    const err = errorOf(() => findHeaderEnd(b(`20 ${'x'.repeat(MAX_META_BYTES + 1)}\r`)));
    expect(err.code).toBe('ERR_HEADER_TOO_LONG');
    expect(err.message).toContain('1027 bytes');
    expect(err.received?.length).toBe(64);
  });

  it('throws ERR_HEADER_TOO_LONG for a line one byte too long, with CR or bare LF', () => {
    const line = `20 ${'x'.repeat(MAX_META_BYTES + 1)}`;
    expect(errorOf(() => findHeaderEnd(b(`${line}\n`))).code).toBe('ERR_HEADER_TOO_LONG');
    expect(errorOf(() => findHeaderEnd(b(`${line}\r\n`))).code).toBe('ERR_HEADER_TOO_LONG');
  });

  it('throws for a META of 2000 spaces without waiting for the LF (egsam)', () => {
    const err = errorOf(() => findHeaderEnd(b(`20 ${' '.repeat(2000)}\r\n`)));
    expect(err.code).toBe('ERR_HEADER_TOO_LONG');
    expect(errorOf(() => findHeaderEnd(b(`20 ${' '.repeat(2000)}`))).code).toBe('ERR_HEADER_TOO_LONG');
  });

  it('honours a custom limit', () => {
    expect(findHeaderEnd(b('20 abc\r\n'), 6)).toEqual({ lineEnd: 6, bodyStart: 8 });
    expect(findHeaderEnd(b('20 abc\r'), 6)).toBeNull();
    const err = errorOf(() => findHeaderEnd(b('20 abcd\r\n'), 6));
    expect(err.code).toBe('ERR_HEADER_TOO_LONG');
    expect(err.message).toContain('6 bytes');
    expect(errorOf(() => findHeaderEnd(b('20 abcde'), 6)).code).toBe('ERR_HEADER_TOO_LONG');
  });

  it('records the URL on the error when given', () => {
    const err = errorOf(() => findHeaderEnd(b('x'.repeat(2000)), undefined, { url: 'gemini://h.example/' }));
    expect(err.url).toBe('gemini://h.example/');
  });

  it('works on a plain Uint8Array', () => {
    expect(findHeaderEnd(new Uint8Array([0x32, 0x30, 0x0d, 0x0a]))).toEqual({ lineEnd: 2, bodyStart: 4 });
  });
});

describe('full header path (torture test and egsam cases)', () => {
  it('rejects a blank header line', () => {
    expect(errorOf(() => parseResponse('\r\nbody')).message).toMatch(/empty/);
  });

  it('rejects one- and three-digit statuses and non-numeric ones', () => {
    for (const raw of ['2 text/gemini\r\n', '200 text/gemini\r\n', 'OK text/gemini\r\n', '4\r\n']) {
      expect(errorOf(() => parseResponse(raw)).code).toBe('ERR_BAD_HEADER');
    }
  });

  it('rejects an invalid first digit', () => {
    expect(errorOf(() => parseResponse('99 oops\r\n')).message).toMatch(/out of range/);
    expect(errorOf(() => parseResponse('01 oops\r\n')).message).toMatch(/out of range/);
  });

  it('accepts a header with no space before CRLF', () => {
    expect(parseResponse('20\r\nhello').header).toEqual({ status: 20, category: 2, meta: '' });
  });
});
