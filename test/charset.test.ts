import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { SINGLE_BYTE_TABLES } from '../src/protocol/charset-tables.js';
import { createStreamDecoder, decodeBody, isKnownCharset } from '../src/protocol/charset.js';
import { parseHeaderLine } from '../src/protocol/header.js';
import { GeminiResponse, headerFields } from '../src/net/response.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const utf16le = (s: string) => new Uint8Array(Buffer.from(s, 'utf16le'));
const utf16be = (s: string) => {
  const le = Buffer.from(s, 'utf16le');
  for (let i = 0; i + 1 < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1]!, le[i]!];
  return new Uint8Array(le);
};
const utf32 = (s: string, littleEndian: boolean) => {
  const cps = [...s].map((c) => c.codePointAt(0)!);
  const view = new DataView(new ArrayBuffer(cps.length * 4));
  cps.forEach((cp, i) => view.setUint32(i * 4, cp, littleEndian));
  return new Uint8Array(view.buffer);
};

describe('decodeBody: UTF-8', () => {
  it('decodes UTF-8 by default and when declared', () => {
    const body = new Uint8Array(Buffer.from('# Grüße 😀\n'));
    expect(decodeBody(body, undefined)).toEqual({ text: '# Grüße 😀\n', charset: 'utf-8', known: true });
    expect(decodeBody(body, 'utf-8')).toEqual({ text: '# Grüße 😀\n', charset: 'utf-8', known: true });
    expect(decodeBody(body, ' UTF8 ').text).toBe('# Grüße 😀\n');
  });

  it('strips a UTF-8 BOM', () => {
    expect(decodeBody(bytes(0xef, 0xbb, 0xbf, 0x68, 0x69), 'utf-8').text).toBe('hi');
  });

  it('replaces invalid bytes with U+FFFD', () => {
    expect(decodeBody(bytes(0x61, 0xff, 0x62), 'utf-8').text).toBe('a\uFFFDb');
  });

  it('decodes an empty body', () => {
    expect(decodeBody(new Uint8Array(0), 'utf-16')).toEqual({ text: '', charset: 'utf-16le', known: true });
    expect(decodeBody(new Uint8Array(0), undefined).text).toBe('');
  });
});

describe('decodeBody: single-byte charsets', () => {
  it('decodes latin-1', () => {
    const r = decodeBody(bytes(0x63, 0x61, 0x66, 0xe9), 'iso-8859-1');
    expect(r.text).toBe('café');
    expect(r.known).toBe(true);
    expect(r.charset).toBe('windows-1252');
    expect(decodeBody(bytes(0xe9), 'latin1').text).toBe('é');
  });

  it('decodes windows-1252 (€ at 0x80)', () => {
    expect(decodeBody(bytes(0x80, 0x20, 0x93, 0x71, 0x94), 'windows-1252')).toEqual({
      text: '€ “q”',
      charset: 'windows-1252',
      known: true,
    });
  });

  it('decodes every windows-1252 byte per the WHATWG index (also for latin-1 and us-ascii labels)', () => {
    const all = new Uint8Array(256).map((_, i) => i);
    const expected = Array.from({ length: 256 }, (_, i) => (i >= 0x80 && i < 0xa0 ? '' : String.fromCharCode(i)));
    const specials = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008DŽ\u008F\u0090‘’“”•–—˜™š›œ\u009DžŸ';
    const text = expected.slice(0, 0x80).join('') + specials + expected.slice(0xa0).join('');
    for (const label of ['windows-1252', 'cp1252', 'iso-8859-1', 'latin1', 'us-ascii', 'ascii']) {
      expect(decodeBody(all, label)).toEqual({ text, charset: 'windows-1252', known: true });
    }
  });

  it('decodes us-ascii', () => {
    const r = decodeBody(new Uint8Array(Buffer.from('plain text\r\n')), 'us-ascii');
    expect(r.text).toBe('plain text\r\n');
    expect(r.known).toBe(true);
  });

  it('decodes code page 437', () => {
    const r = decodeBody(bytes(0x41, 0x80, 0x81, 0x90, 0xc9, 0xcd, 0xbb, 0xe3, 0xff), 'cp437');
    expect(r).toEqual({ text: 'AÇüÉ╔═╗π\u00A0', charset: 'ibm437', known: true });
    expect(decodeBody(bytes(0xb0), 'IBM437').text).toBe('░');
  });

  it('decodes other WHATWG encodings supported by Node (koi8-r, shift_jis)', () => {
    expect(decodeBody(bytes(0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4), 'koi8-r').text).toBe('Привет');
    expect(decodeBody(bytes(0x82, 0xa0), 'shift_jis').text).toBe('あ');
  });
});

describe('decodeBody: UTF-16 and UTF-32', () => {
  it('decodes UTF-16LE and UTF-16BE with a BOM, removing it', () => {
    const text = 'Hello, wörld 😀\n';
    expect(decodeBody(new Uint8Array([0xff, 0xfe, ...utf16le(text)]), 'utf-16le')).toEqual({
      text,
      charset: 'utf-16le',
      known: true,
    });
    expect(decodeBody(new Uint8Array([0xfe, 0xff, ...utf16be(text)]), 'utf-16be')).toEqual({
      text,
      charset: 'utf-16be',
      known: true,
    });
  });

  it('lets the BOM pick the byte order when "utf-16" is declared', () => {
    const text = 'line one\nline two\n';
    expect(decodeBody(new Uint8Array([0xfe, 0xff, ...utf16be(text)]), 'utf-16')).toMatchObject({ text, charset: 'utf-16be' });
    expect(decodeBody(new Uint8Array([0xff, 0xfe, ...utf16le(text)]), 'utf-16')).toMatchObject({ text, charset: 'utf-16le' });
  });

  it('decodes UTF-16 without a BOM by the declared order', () => {
    expect(decodeBody(utf16be('abc def\n'), 'utf-16be').text).toBe('abc def\n');
    expect(decodeBody(utf16le('abc def\n'), 'utf-16le').text).toBe('abc def\n');
    expect(decodeBody(utf16le('Привет'), 'utf-16le').text).toBe('Привет');
  });

  it('decodes UTF-32LE and UTF-32BE, with and without a BOM', () => {
    const text = 'Hi 😀\n';
    expect(decodeBody(utf32(`\uFEFF${text}`, true), 'utf-32le')).toEqual({ text, charset: 'utf-32le', known: true });
    expect(decodeBody(utf32(`\uFEFF${text}`, false), 'utf-32be')).toEqual({ text, charset: 'utf-32be', known: true });
    expect(decodeBody(utf32(`\uFEFF${text}`, true), 'utf-32')).toMatchObject({ text, charset: 'utf-32le' });
    expect(decodeBody(utf32(text, false), 'utf-32')).toMatchObject({ text, charset: 'utf-32be' });
    expect(decodeBody(utf32(text, true), 'UTF-32LE').text).toBe(text);
  });

  it('replaces invalid UTF-32 code points and a truncated tail with U+FFFD', () => {
    expect(decodeBody(bytes(0x41, 0, 0, 0, 0x00, 0xd8, 0, 0, 0xff, 0xff, 0x11, 0, 0x42), 'utf-32le').text).toBe(
      'A\uFFFD\uFFFD\uFFFD',
    );
  });

  it('decodes a body declared UTF-16 by its declaration, even when it holds UTF-8 (egsam: no sniffing)', () => {
    const body = new Uint8Array(Buffer.from('# Héllo wörld\nSome text.\n'));
    const asUtf16 = decodeBody(body, 'utf-16');
    expect(asUtf16.charset).toBe('utf-16le');
    expect(asUtf16.text).toBe(new TextDecoder('utf-16le').decode(body));
    expect(asUtf16.text).not.toContain('Héllo');
    expect(decodeBody(body, 'utf-32be').charset).toBe('utf-32be');
  });

  it('a UTF-8 BOM overrides any declared charset', () => {
    expect(decodeBody(new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from('é')]), 'iso-8859-1')).toEqual({
      text: 'é',
      charset: 'utf-8',
      known: true,
    });
  });
});

describe('decodeBody: unknown charsets', () => {
  it('decodes an unknown charset as UTF-8 and reports it', () => {
    expect(decodeBody(new Uint8Array(Buffer.from('héllo')), 'x-garbage')).toEqual({
      text: 'héllo',
      charset: 'utf-8',
      known: false,
    });
  });

  it('treats the "replacement" encodings as unknown', () => {
    expect(decodeBody(new Uint8Array(Buffer.from('abc')), 'iso-2022-kr')).toEqual({ text: 'abc', charset: 'utf-8', known: false });
  });
});

describe('isKnownCharset', () => {
  it.each(['utf-8', 'UTF-8', ' utf-8 ', 'utf8', 'iso-8859-1', 'latin1', 'us-ascii', 'windows-1252', 'utf-16', 'utf-16le', 'utf-16be', 'utf-32', 'utf-32le', 'utf-32be', 'cp437', 'ibm437', 'koi8-r', 'shift_jis', 'gb18030'])(
    'knows %j',
    (label) => {
      expect(isKnownCharset(label)).toBe(true);
    },
  );

  it.each(['x-garbage', '', 'utf-7', 'iso-2022-kr', 'ebcdic'])('does not know %j', (label) => {
    expect(isKnownCharset(label)).toBe(false);
  });
});

/** Decodes `body` through a stream decoder, cut at the given offsets. */
function decodeInPieces(charset: string | undefined, body: Uint8Array, cuts: number[]): string {
  const decoder = createStreamDecoder(charset);
  let text = '';
  let start = 0;
  for (const cut of [...cuts, body.length]) {
    text += decoder.write(body.subarray(start, cut));
    start = cut;
  }
  return text + decoder.end();
}

describe('createStreamDecoder', () => {
  const TEXT = 'Aé€\n😀 ok\r\nƒ—z\n';
  const cases: Array<[string, string | undefined, Uint8Array]> = [
    ['utf-8 (default)', undefined, new Uint8Array(Buffer.from(TEXT))],
    ['utf-8 with BOM', 'utf-8', new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from(TEXT)])],
    ['utf-16le with BOM', 'utf-16le', new Uint8Array([0xff, 0xfe, ...utf16le(TEXT)])],
    ['utf-16be without BOM', 'utf-16be', utf16be(TEXT)],
    ['utf-16 with a big-endian BOM', 'utf-16', new Uint8Array([0xfe, 0xff, ...utf16be(TEXT)])],
    ['utf-32 with a little-endian BOM', 'utf-32', utf32(`\uFEFF${TEXT}`, true)],
    ['utf-32be without BOM', 'utf-32be', utf32(TEXT, false)],
    ['cp437', 'cp437', bytes(0x41, 0x80, 0x0a, 0xb0, 0xdb, 0xe3, 0xff)],
    ['windows-1252 with a UTF-8 BOM', 'windows-1252', new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from('é')])],
    ['iso-8859-1', 'ISO-8859-1', bytes(0x63, 0x61, 0x66, 0xe9, 0x80, 0x93, 0x94, 0x0a)],
    ['utf-8 label, UTF-16LE BOM', 'utf-8', new Uint8Array([0xff, 0xfe, ...utf16le(TEXT)])],
    ['shift_jis label, UTF-8 BOM', 'shift_jis', new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from(TEXT)])],
    ['utf-16le declared, UTF-8 sent', 'utf-16le', new Uint8Array(Buffer.from(TEXT))],
    ['euc-jp', 'euc-jp', new Uint8Array([0x8f, 0xe2, 0x8b, 0x41, 0xa4, 0xa2, 0x8e, 0xb1, 0x0a])],
    ['gb18030', 'gb18030', new Uint8Array([0x81, 0x30, 0x81, 0x30, 0xc4, 0xe3, 0x41, 0x0a])],
    ['iso-2022-jp', 'iso-2022-jp', new Uint8Array([0x1b, 0x24, 0x42, 0x24, 0x22, 0x1b, 0x28, 0x42, 0x41, 0x0a])],
  ];

  it.each(cases)('%s: decodes like decodeBody, whole, cut anywhere, or byte by byte', (_name, charset, body) => {
    const { text, charset: encoding } = decodeBody(body, charset);
    expect(text.length).toBeGreaterThan(0);
    expect(decodeInPieces(charset, body, [])).toBe(text);
    for (let i = 0; i <= body.length; i++) expect(decodeInPieces(charset, body, [i])).toBe(text);
    expect(decodeInPieces(charset, body, Array.from({ length: body.length }, (_, k) => k))).toBe(text);
    const decoder = createStreamDecoder(charset);
    decoder.write(body);
    decoder.end();
    expect(decoder.encoding).toBe(encoding);
    expect(decoder.known).toBe(true);
  });

  it('holds the first bytes only while they could still be a BOM', () => {
    const decoder = createStreamDecoder('utf-8');
    expect(decoder.write(bytes(0xef, 0xbb))).toBe(''); // a UTF-8 BOM, perhaps
    expect(decoder.write(bytes(0xbf, 0x68))).toBe('h');
    const plain = createStreamDecoder('utf-8');
    expect(plain.write(bytes(0x68))).toBe('h'); // cannot start a BOM
    const utf16 = createStreamDecoder('utf-8');
    expect(utf16.write(bytes(0xff, 0xfe))).toBe(''); // UTF-16LE, or UTF-32LE if two NULs follow
    expect(utf16.write(bytes(0x68, 0x00))).toBe('h');
    expect(utf16.encoding).toBe('utf-16le');
  });

  it('settles the encoding from a BOM, even split across chunks', () => {
    const decoder = createStreamDecoder('utf-16');
    expect(decoder.encoding).toBe('utf-16le');
    expect(decoder.write(bytes(0xfe))).toBe('');
    expect(decoder.write(bytes(0xff, 0x00))).toBe('');
    expect(decoder.write(bytes(0x41, 0x00, 0x42))).toBe('AB');
    expect(decoder.encoding).toBe('utf-16be');
    expect(decoder.end()).toBe('');
  });

  it('holds a UTF-16 surrogate pair split between chunks and puts it back together', () => {
    const body = utf16le('x😀y'); // 78 00 | 3d d8 | 00 de | 79 00
    for (const cuts of [[3], [4], [5], [3, 5], [2, 4, 6]]) expect(decodeInPieces('utf-16le', body, cuts)).toBe('x😀y');
    const decoder = createStreamDecoder('utf-16le');
    expect(decoder.write(body.subarray(0, 4))).toBe('x'); // the high surrogate is held, not shown as U+FFFD
    expect(decoder.write(body.subarray(4))).toBe('😀y');
    expect(decoder.end()).toBe('');
  });

  it('holds a UTF-8 sequence split between chunks', () => {
    const decoder = createStreamDecoder(undefined);
    expect(decoder.write(bytes(0x61, 0xf0, 0x9f))).toBe('a');
    expect(decoder.write(bytes(0x98, 0x80, 0x62))).toBe('😀b');
    expect(decoder.end()).toBe('');
  });

  it('turns an incomplete character at the end into U+FFFD', () => {
    expect(decodeInPieces('utf-8', bytes(0x41, 0xe2, 0x82), [2])).toBe('A\uFFFD');
    expect(decodeInPieces('utf-16le', bytes(0xff, 0xfe, 0x41, 0x00, 0x42), [3])).toBe('A\uFFFD');
    expect(decodeInPieces('utf-32be', bytes(0, 0, 0, 0x41, 0, 0), [5])).toBe('A\uFFFD');
    expect(decodeInPieces('utf-32le', bytes(0, 0xd8, 0, 0, 0x42, 0, 0, 0), [1])).toBe('\uFFFDB');
  });

  it('decodes windows-1252 itself, not as ISO-8859-1, for its aliases', () => {
    for (const label of ['windows-1252', 'iso-8859-1', 'us-ascii']) {
      const decoder = createStreamDecoder(label);
      expect(decoder.write(bytes(0x80, 0x20))).toBe('€ '); // 0x80 cannot start a BOM: decoded at once
      expect(decoder.write(bytes(0x93, 0x71, 0x94))).toBe('“q”');
      expect(decoder.write(bytes(0x9c, 0x41))).toBe('œA');
      expect(decoder.encoding).toBe('windows-1252');
    }
  });

  it('passes the chunks of a real UTF-16 body straight through, without holding them', () => {
    const line = 'a line of text\n';
    const decoder = createStreamDecoder('utf-16le');
    for (let i = 0; i < 20; i++) expect(decoder.write(utf16le(line))).toBe(line);
    expect(decoder.encoding).toBe('utf-16le');
    expect(decoder.end()).toBe('');
  });

  it('streams a body declared UTF-16 that holds UTF-8 as UTF-16, at once (no sniffing, nothing held)', () => {
    const decoder = createStreamDecoder('utf-16le');
    const line = new Uint8Array(Buffer.from('plain UTF-8 text\n'));
    expect(decoder.write(line)).toBe(new TextDecoder('utf-16le').decode(line.subarray(0, 16)));
    expect(decoder.encoding).toBe('utf-16le');
    expect(decoder.end()).toBe('\uFFFD'); // the odd last byte
  });

  it('a BOM overrides any label, as in decodeBody: a UTF-16 BOM on a body labelled UTF-8', () => {
    expect(decodeInPieces('utf-8', bytes(0xef, 0xbb, 0xbf, 0x68, 0x69), [1])).toBe('hi');
    const decoder = createStreamDecoder('utf-8');
    expect(decoder.write(bytes(0xff, 0xfe, 0x41, 0x00))).toBe('A');
    expect(decoder.encoding).toBe('utf-16le');
    expect(decoder.end()).toBe('');
    expect(decodeBody(bytes(0xff, 0xfe, 0x41, 0x00), 'utf-8')).toMatchObject({ text: 'A', charset: 'utf-16le' });
  });

  it('decodes an unknown charset as UTF-8 with known: false', () => {
    const decoder = createStreamDecoder('x-klingon');
    expect(decoder.known).toBe(false);
    expect(decoder.encoding).toBe('utf-8');
    expect(decoder.write(new Uint8Array(Buffer.from('qapla')))).toBe('qapla');
    expect(decoder.end()).toBe('');
    expect(createStreamDecoder('iso-2022-kr').known).toBe(false);
  });
});

describe('createStreamDecoder: multi-byte characters split between chunks (issue 9)', () => {
  it('does not throw on the bytes of issue 9 (euc-jp 0x8F 0xE2 | 0x8B), and decodes them as Node does at once', () => {
    const decoder = createStreamDecoder('euc-jp');
    const text = decoder.write(bytes(0x8f, 0xe2)) + decoder.write(bytes(0x8b)) + decoder.write(bytes(0x41)) + decoder.end();
    expect(text).toBe(new TextDecoder('euc-jp').decode(bytes(0x8f, 0xe2, 0x8b, 0x41)));
  });

  it('puts a three-byte euc-jp character (JIS X 0212) split after its second byte back together', () => {
    const body = bytes(0x8f, 0xb0, 0xa1, 0xa4, 0xa2); // 丂 あ
    for (const cuts of [[1], [2], [1, 2], [2, 4]]) expect(decodeInPieces('euc-jp', body, cuts)).toBe('丂あ');
  });

  it('does not throw on a gb18030 four-byte character split anywhere', () => {
    const body = bytes(0x81, 0x30, 0x81, 0x30, 0x0a); // U+0080, then LF
    for (const cut of [1, 2, 3]) expect(decodeInPieces('gb18030', body, [cut])).toBe('\u0080\n');
  });

  it('does not throw on gbk bytes that start a four-byte sequence, split anywhere (ICU of Node 22 and 24 threw)', () => {
    for (const body of [bytes(0x95, 0x35, 0x36), bytes(0x32, 0xcb, 0x34, 0xb9, 0xe2), bytes(0x81, 0x30, 0x81, 0x30, 0x0a)]) {
      const whole = new TextDecoder('gbk').decode(body);
      expect(decodeInPieces('gbk', body, Array.from({ length: body.length }, (_, k) => k))).toBe(whole);
    }
  });
});

/** A seeded PRNG (mulberry32): the same numbers on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Labels of every charset we decode: the WHATWG ones Node has, UTF-32, and our single-byte tables. */
const ALL_LABELS = [
  'utf-8', 'utf-16le', 'utf-16be', 'utf-32le', 'utf-32be', 'ibm866', 'iso-8859-2', 'iso-8859-3', 'iso-8859-4',
  'iso-8859-5', 'iso-8859-6', 'iso-8859-7', 'iso-8859-8', 'iso-8859-8-i', 'iso-8859-10', 'iso-8859-13',
  'iso-8859-14', 'iso-8859-15', 'iso-8859-16', 'koi8-r', 'koi8-u', 'macintosh', 'windows-874', 'windows-1250',
  'windows-1251', 'windows-1252', 'windows-1253', 'windows-1254', 'windows-1255', 'windows-1256', 'windows-1257',
  'windows-1258', 'x-mac-cyrillic', 'gbk', 'gb18030', 'big5', 'euc-jp', 'iso-2022-jp', 'shift_jis', 'euc-kr',
  ...[...SINGLE_BYTE_TABLES.keys()],
];
const MULTI_BYTE = new Set(['gbk', 'gb18030', 'big5', 'euc-jp', 'iso-2022-jp', 'shift_jis', 'euc-kr', 'utf-8', 'utf-16le', 'utf-16be', 'utf-32le', 'utf-32be']);
const SAMPLE = 'Gemini: Grüße, café, Привет, Ελλάδα, שלום, 日本語のテキスト, 中文, 한국어 ½ €\n';
const iconvPresent = spawnSync('iconv', ['--version']).status === 0;

/** SAMPLE in `label`, the characters it cannot hold dropped (by iconv, when present). */
function encodedSample(label: string): Uint8Array | undefined {
  if (!iconvPresent) return undefined;
  const iconvName = label === 'iso-8859-8-i' ? 'iso-8859-8' : label === 'x-mac-cyrillic' ? 'mac-cyrillic' : label.replace(/^ibm/, 'cp');
  const out = spawnSync('iconv', ['-c', '-f', 'UTF-8', '-t', iconvName], { input: SAMPLE });
  return out.stdout.length > 0 ? new Uint8Array(out.stdout) : undefined;
}

/** Random bytes, biased toward those that start, continue or escape multi-byte sequences. */
function garbage(random: () => number, length: number): Uint8Array {
  const special = [0x1b, 0x28, 0x24, 0x42, 0x0e, 0x0f, 0x8e, 0x8f, 0x81, 0xa1, 0xfe, 0xd8, 0xdc, 0x00];
  return new Uint8Array(length).map(() => {
    const r = random();
    if (r < 0.15) return 0x30 + Math.floor(random() * 10);
    if (r < 0.3) return special[Math.floor(random() * special.length)]!;
    if (r < 0.45) return Math.floor(random() * 0x80);
    return Math.floor(random() * 0x100);
  });
}

function randomCuts(random: () => number, length: number): number[] {
  const count = Math.floor(random() * Math.min(length, 8));
  return Array.from({ length: count }, () => Math.floor(random() * (length + 1))).sort((a, b) => a - b);
}

describe('createStreamDecoder: fuzzed chunk splits, every supported charset', () => {
  it.each(ALL_LABELS)('%s: streamed text equals the one-shot text for samples and garbage cut at random', (label) => {
    expect(isKnownCharset(label)).toBe(true);
    const random = prng([...label].reduce((h, c) => Math.imul(h, 31) + c.charCodeAt(0), 7));
    const bodies: Uint8Array[] = [];
    const sample = encodedSample(label);
    if (sample) bodies.push(sample);
    const rounds = MULTI_BYTE.has(label) ? 400 : 40;
    for (let i = 0; i < rounds; i++) bodies.push(garbage(random, 1 + Math.floor(random() * 48)));
    for (const body of bodies) {
      const whole = decodeBody(body, label).text;
      const startsLikeBom = (body[0] === 0xef && body[1] === 0xbb) || body[0] === 0xfe || body[0] === 0xff;
      if (!startsLikeBom && !label.startsWith('utf-32') && !SINGLE_BYTE_TABLES.has(label) && label !== 'windows-1252') {
        expect(whole).toBe(new TextDecoder(label, { ignoreBOM: true }).decode(body)); // Node decoding it at once, independently
      }
      for (let round = 0; round < 3; round++) expect(decodeInPieces(label, body, randomCuts(random, body.length))).toBe(whole);
      expect(decodeInPieces(label, body, Array.from({ length: body.length }, (_, k) => k))).toBe(whole);
    }
  });
});

describe('single-byte tables (generated from iconv)', () => {
  it.each([...SINGLE_BYTE_TABLES])('%s: labels resolve to it, and every byte decodes as iconv decodes it', (name, table) => {
    for (const label of table.labels) expect(decodeBody(bytes(0x41), label)).toEqual({ text: 'A', charset: name, known: true });
    const all = new Uint8Array(256).map((_, i) => i);
    const text = decodeBody(all, name).text;
    expect([...text]).toHaveLength(256);
    expect(text.slice(0, 0x80)).toBe(String.fromCharCode(...all.subarray(0, 0x80)));
    if (!iconvPresent) return;
    const iconvName = `${name.replace(/^ibm/, 'cp')}`;
    const defined = all.filter((b) => b < 0x80 || text[b] !== '\uFFFD');
    const out = spawnSync('iconv', ['-f', iconvName, '-t', 'UTF-8'], { input: Buffer.from(defined) });
    expect(out.status).toBe(0);
    expect(out.stdout.toString('utf8')).toBe([...defined].map((b) => text[b]).join(''));
    for (const b of all.filter((x) => text[x] === '\uFFFD')) {
      expect(spawnSync('iconv', ['-f', iconvName, '-t', 'UTF-8'], { input: Buffer.from([b]) }).status).not.toBe(0);
    }
  });

  it('knows the DOS code pages and iso-8859-16 by their usual labels', () => {
    expect(decodeBody(bytes(0x9b, 0xd5), 'cp850')).toEqual({ text: 'øı', charset: 'ibm850', known: true });
    expect(decodeBody(bytes(0xd5), 'IBM858').text).toBe('€');
    expect(decodeBody(bytes(0xa4), 'iso-8859-16').text).toBe('€');
    expect(decodeBody(bytes(0xb0), 'cp437').text).toBe('░');
  });
});

describe('the response says whether its charset is known, and text() decodes by the declaration', () => {
  const responseFor = (header: string, body: Uint8Array) =>
    new GeminiResponse(
      { ...headerFields(parseHeaderLine(Buffer.from(header))), url: 'gemini://h.example/', redirects: [], redirectNotFollowed: undefined, tls: undefined as never, timings: { connect: 0, secure: 0, header: 0 }, rawHeader: Buffer.from(`${header}\r\n`), peer: { address: '127.0.0.1', port: 1965, certificate: undefined } },
      Buffer.from(body),
      { complete: true, termination: 'close_notify', bytes: body.length },
    );

  it.each([
    ['20 text/plain; charset=ebcdicatde', false],
    ['20 text/plain; charset=tcvn-5712', false],
    ['20 text/plain; charset=x-klingon', false],
    ['20 text/plain; charset=cp850', true],
    ['20 text/plain; charset=EUC-JP', true],
    ['20 text/plain', true],
    ['20', true],
    ['51 not found', true],
  ])('%s: charsetKnown %s', (header, known) => {
    expect(responseFor(header, new Uint8Array(0)).charsetKnown).toBe(known);
  });

  it('text() decodes a body declared UTF-16 that holds UTF-8 as UTF-16, agreeing with res.charset', () => {
    const body = new Uint8Array(Buffer.from('héllo wörld\n'));
    const res = responseFor('20 text/plain; charset=utf-16le', body);
    expect(res.charset).toBe('utf-16le');
    expect(res.text()).toBe(new TextDecoder('utf-16le').decode(body));
  });
});
