import { describe, expect, it } from 'vitest';
import { DEFAULT_MIME, parseMimeType } from '../src/protocol/mime.js';

const params = (meta: string) => Object.fromEntries(parseMimeType(meta).params);

describe('parseMimeType', () => {
  it('parses text/gemini with charset and lang', () => {
    const m = parseMimeType('text/gemini; charset=utf-8; lang=en');
    expect(m.essence).toBe('text/gemini');
    expect(m.charset).toBe('utf-8');
    expect(m.lang).toBe('en');
    expect(params('text/gemini; charset=utf-8; lang=en')).toEqual({ charset: 'utf-8', lang: 'en' });
  });

  it('treats an empty or blank META as text/gemini; charset=utf-8', () => {
    for (const meta of ['', '   ', '\t']) {
      const m = parseMimeType(meta);
      expect(m.essence).toBe(DEFAULT_MIME);
      expect(m.essence).toBe('text/gemini');
      expect(m.charset).toBe('utf-8');
      expect(m.lang).toBeUndefined();
      expect(m.params.size).toBe(0);
    }
  });

  it('leaves charset undefined when not given', () => {
    const m = parseMimeType('text/gemini');
    expect(m.charset).toBeUndefined();
    expect(m.lang).toBeUndefined();
    expect(m.params.size).toBe(0);
  });

  it('lowercases the essence and parameter names, and the charset value', () => {
    const m = parseMimeType('Text/Gemini; CHARSET=UTF-8; Lang=en-GB');
    expect(m.essence).toBe('text/gemini');
    expect(m.charset).toBe('utf-8');
    expect(m.lang).toBe('en-GB');
    expect(params('Text/Gemini; CHARSET=UTF-8; Lang=en-GB')).toEqual({ charset: 'UTF-8', lang: 'en-GB' });
  });

  it.each([
    ['text/gemini; charset=utf-8', 'utf-8'],
    ['text/gemini; charset=iso-8859-1', 'iso-8859-1'],
    ['text/gemini; charset=us-ascii', 'us-ascii'],
    ['text/gemini; CHARSET=UTF-8', 'utf-8'],
    ['text/plain;charset=windows-1252', 'windows-1252'],
  ])('torture test charset %j', (meta, charset) => {
    expect(parseMimeType(meta).charset).toBe(charset);
  });

  it('keeps other parameters such as format=flowed and foo=bar', () => {
    expect(params('text/plain; format=flowed')).toEqual({ format: 'flowed' });
    const m = parseMimeType('text/gemini; foo=bar; charset=utf-8');
    expect(m.params.get('foo')).toBe('bar');
    expect(m.charset).toBe('utf-8');
  });

  it('allows spaces and tabs around ";" and "="', () => {
    const m = parseMimeType('  text/gemini ;  charset = utf-8 ;\tlang\t=\tfr  ');
    expect(m.essence).toBe('text/gemini');
    expect(m.charset).toBe('utf-8');
    expect(m.lang).toBe('fr');
  });

  it('unquotes quoted values, which may hold commas, semicolons and escapes', () => {
    expect(parseMimeType('text/gemini; lang="en,fr"').lang).toBe('en,fr');
    expect(parseMimeType('text/gemini; lang="en;fr"; charset=utf-8').lang).toBe('en;fr');
    expect(parseMimeType('text/gemini; lang="en;fr"; charset=utf-8').charset).toBe('utf-8');
    expect(parseMimeType('text/plain; title="a \\"b\\" \\\\ c"').params.get('title')).toBe('a "b" \\ c');
    expect(parseMimeType('text/gemini; charset="UTF-8"').charset).toBe('utf-8');
  });

  it('tolerates an unterminated quote and junk after a closing quote', () => {
    expect(parseMimeType('text/gemini; lang="en').lang).toBe('en');
    expect(params('text/gemini; lang="en"xx; a=b')).toEqual({ lang: 'en', a: 'b' });
  });

  it('ignores parameters without a value or name, and empty segments', () => {
    expect(params('text/gemini; ; flowed; =x; a=1;;')).toEqual({ a: '1' });
  });

  it('treats an empty charset or lang as absent', () => {
    const m = parseMimeType('text/gemini; charset=; lang=""');
    expect(m.charset).toBeUndefined();
    expect(m.lang).toBeUndefined();
  });

  it('keeps the first occurrence of a repeated parameter', () => {
    expect(parseMimeType('text/gemini; charset=utf-8; charset=latin1').charset).toBe('utf-8');
  });

  it('never throws on garbage and returns it as the essence, lowercased', () => {
    expect(parseMimeType('Not A Mime Type').essence).toBe('not a mime type');
    expect(parseMimeType('text/garbage').essence).toBe('text/garbage');
    expect(parseMimeType(';;;').essence).toBe('');
    expect(parseMimeType('"').essence).toBe('"');
    expect(() => parseMimeType('a;b="\\')).not.toThrow();
    expect(parseMimeType('image/PNG').essence).toBe('image/png');
  });
});
