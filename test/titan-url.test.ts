/**
 * Titan URLs without sockets: parameters split off the path and decoded, the
 * request line built with the token percent-encoded, and clear errors.
 */
import { describe, expect, it } from 'vitest';
import { InvalidUrlError } from '../src/errors.js';
import { encodeTitanToken, geminiUrlOf, parseTitanUrl, titanRequest } from '../src/protocol/titan-url.js';

function invalid(fn: () => unknown): InvalidUrlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidUrlError);
    return err as InvalidUrlError;
  }
  throw new Error('expected an InvalidUrlError');
}

describe('parseTitanUrl', () => {
  it('takes host, default port 1965 and path like a gemini URL', () => {
    const url = parseTitanUrl('TITAN://Example.ORG/wiki/a page');
    expect(url).toMatchObject({ href: 'titan://example.org/wiki/a%20page', host: 'example.org', port: 1965, hostPort: 'example.org:1965', path: '/wiki/a%20page', params: {} });
    expect(parseTitanUrl('titan://example.org').href).toBe('titan://example.org/');
    expect(parseTitanUrl('titan://127.0.0.1:1966/x').hostPort).toBe('127.0.0.1:1966');
    expect(parseTitanUrl('titan://[::1]/x').servername).toBeUndefined();
  });

  it('splits the parameters off the path, in any order, values decoded (a "/" in mime included)', () => {
    const url = parseTitanUrl('titan://h/raw/Test;token=a%3Bb%3Dc%20d;mime=plain/text;size=10');
    expect(url.path).toBe('/raw/Test');
    expect(url.href).toBe('titan://h/raw/Test');
    expect(url.params).toEqual({ token: 'a;b=c d', mime: 'plain/text', size: 10 });
  });

  it('takes parameters as written: a token is not a path segment (no dot-segment removal), a query stays a query', () => {
    const url = parseTitanUrl('titan://h/wiki/p;token=a/../b;size=2?q=1#frag');
    expect(url.path).toBe('/wiki/p');
    expect(url.params).toEqual({ token: 'a/../b', size: 2 });
    expect(url.href).toBe('titan://h/wiki/p?q=1');
    expect(parseTitanUrl('titan://h/a/./b/../c;mime=text/plain').path).toBe('/a/c');
  });

  it('keeps a ";" that starts no Titan parameter in the path', () => {
    expect(parseTitanUrl('titan://h/a;b/c;v=1').path).toBe('/a;b/c;v=1');
    const url = parseTitanUrl('titan://h/a;b/c;size=3');
    expect(url.path).toBe('/a;b/c');
    expect(url.params).toEqual({ size: 3 });
  });

  it('refuses other schemes, ;edit, repeated parameters, a bad size or mime, with the reason', () => {
    expect(invalid(() => parseTitanUrl('gemini://h/x')).message).toMatch(/not a titan URL \(scheme gemini:\)/);
    expect(invalid(() => parseTitanUrl('/x')).message).toMatch(/not an absolute URL/);
    expect(invalid(() => parseTitanUrl('titan://h/x;edit')).message).toMatch(/;edit .* not supported/);
    expect(invalid(() => parseTitanUrl('titan://h/x;size=1;size=2')).message).toMatch(/size parameter is given twice/);
    expect(invalid(() => parseTitanUrl('titan://h/x;size=-1')).message).toMatch(/size parameter "-1" is not a whole number/);
    expect(invalid(() => parseTitanUrl('titan://h/x;size=99999999999999999999')).message).toMatch(/too large/);
    expect(invalid(() => parseTitanUrl('titan://h/x;mime=text')).message).toMatch(/mime parameter "text" is not a MIME type/);
    expect(invalid(() => parseTitanUrl('titan://h/x;token=%FF')).message).toMatch(/token parameter "%FF" is not valid percent-encoded UTF-8/);
    const badHost = invalid(() => parseTitanUrl('titan://user@h/x'));
    expect(badHost.message).toMatch(/^invalid titan URL "titan:\/\/user@h\/x": userinfo/);
    expect(invalid(() => parseTitanUrl('titan://h:99999/')).message).toMatch(/port 99999 is out of range/);
  });
});

describe('titanRequest', () => {
  it('appends mime, size and token in that order, before a query', () => {
    const url = parseTitanUrl('titan://h:1966/p?q=1');
    expect(titanRequest(url, { mime: 'text/gemini', size: 12, token: 'secret' })).toEqual({
      href: 'titan://h:1966/p;mime=text/gemini;size=12;token=secret?q=1',
      shown: 'titan://h:1966/p;mime=text/gemini;size=12;token=***?q=1',
    });
    expect(titanRequest(url, { mime: 'image/png', size: 0 }).href).toBe('titan://h:1966/p;mime=image/png;size=0?q=1');
  });

  it('percent-encodes every byte of the token outside the unreserved characters', () => {
    expect(encodeTitanToken("a;b=c d%e/f?g#h!*'()é~._-")).toBe('a%3Bb%3Dc%20d%25e%2Ff%3Fg%23h%21%2A%27%28%29%C3%A9~._-');
    const line = titanRequest(parseTitanUrl('titan://h/p'), { mime: 'text/plain', size: 1, token: 'x;size=999\r\n' }).href;
    expect(line).toBe('titan://h/p;mime=text/plain;size=1;token=x%3Bsize%3D999%0D%0A');
    // The built line parses back to the same parameters.
    expect(parseTitanUrl(line).params).toEqual({ mime: 'text/plain', size: 1, token: 'x;size=999\r\n' });
  });

  it('refuses a MIME type with parameters, an empty token, a negative size and a line over 1024 bytes', () => {
    const url = parseTitanUrl('titan://h/p');
    expect(invalid(() => titanRequest(url, { mime: 'text/plain; charset=utf-8', size: 1 })).message).toMatch(/MIME type "text\/plain; charset=utf-8" is not type\/subtype/);
    expect(invalid(() => titanRequest(url, { mime: 'text/plain', size: 1, token: '' })).message).toMatch(/token is empty/);
    expect(invalid(() => titanRequest(url, { mime: 'text/plain', size: -1 })).message).toMatch(/size -1/);
    expect(invalid(() => titanRequest(url, { mime: 'text/plain', size: 1, token: 'x'.repeat(1000) })).code).toBe('ERR_URL_TOO_LONG');
  });

  it('gives the gemini:// URL of the resource, the base of relative redirects', () => {
    expect(geminiUrlOf(parseTitanUrl('titan://h:1966/a/b;size=3?q'))).toBe('gemini://h:1966/a/b?q');
  });
});
