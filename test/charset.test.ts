import { describe, expect, it } from 'vitest';
import { decodeBody, isKnownCharset } from '../src/charset.js';

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

  it('decodes a body declared UTF-16 but sent as UTF-8 as UTF-8 (egsam)', () => {
    const body = new Uint8Array(Buffer.from('# Héllo wörld\nSome text.\n'));
    expect(decodeBody(body, 'utf-16')).toEqual({ text: '# Héllo wörld\nSome text.\n', charset: 'utf-8', known: true });
    expect(decodeBody(body, 'utf-32be').charset).toBe('utf-8');
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
