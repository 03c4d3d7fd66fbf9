import { describe, expect, it } from 'vitest';
import { InvalidUrlError } from '../src/errors.js';
import {
  DEFAULT_PORT,
  MAX_REQUEST_BYTES,
  fromUserInput,
  parseGeminiUrl,
  resolveReference,
  withInput,
} from '../src/protocol/url.js';

function errorOf(fn: () => unknown): InvalidUrlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidUrlError);
    return err as InvalidUrlError;
  }
  throw new Error('expected an InvalidUrlError');
}

function href(input: string, base?: string): string {
  return parseGeminiUrl(input, base).href;
}

describe('parseGeminiUrl: basics', () => {
  it('parses a plain URL into all fields', () => {
    expect(parseGeminiUrl('gemini://example.org/docs/index.gmi?q=1')).toEqual({
      href: 'gemini://example.org/docs/index.gmi?q=1',
      host: 'example.org',
      port: 1965,
      servername: 'example.org',
      hostPort: 'example.org:1965',
      path: '/docs/index.gmi',
      query: 'q=1',
      hasQuery: true,
    });
    expect(DEFAULT_PORT).toBe(1965);
  });

  it('sends an empty path as "/"', () => {
    const u = parseGeminiUrl('gemini://example.org');
    expect(u.href).toBe('gemini://example.org/');
    expect(u.path).toBe('/');
    expect(u.hasQuery).toBe(false);
    expect(u.query).toBe('');
    expect(href('gemini://example.org?x')).toBe('gemini://example.org/?x');
  });

  it('lowercases the scheme and host', () => {
    expect(href('GEMINI://Example.ORG/Path')).toBe('gemini://example.org/Path');
    expect(href('Gemini://example.org/')).toBe('gemini://example.org/');
  });

  it('keeps an empty query only when a "?" was present', () => {
    const withMark = parseGeminiUrl('gemini://h.example/p?');
    expect(withMark.hasQuery).toBe(true);
    expect(withMark.query).toBe('');
    expect(withMark.href).toBe('gemini://h.example/p?');
    expect(parseGeminiUrl('gemini://h.example/p').href).toBe('gemini://h.example/p');
  });

  it('strips the fragment', () => {
    expect(href('gemini://h.example/p#frag')).toBe('gemini://h.example/p');
    expect(href('gemini://h.example/p?q#frag')).toBe('gemini://h.example/p?q');
    expect(href('gemini://h.example#')).toBe('gemini://h.example/');
  });

  it('ignores surrounding spaces and controls', () => {
    expect(href('  gemini://h.example/p \t')).toBe('gemini://h.example/p');
  });
});

describe('parseGeminiUrl: ports', () => {
  it('drops the default port and keeps others', () => {
    expect(href('gemini://h.example:1965/')).toBe('gemini://h.example/');
    const u = parseGeminiUrl('gemini://h.example:1966/x');
    expect(u.href).toBe('gemini://h.example:1966/x');
    expect(u.port).toBe(1966);
    expect(u.hostPort).toBe('h.example:1966');
  });

  it('treats an empty port as the default and accepts leading zeros', () => {
    expect(parseGeminiUrl('gemini://h.example:/').port).toBe(1965);
    expect(parseGeminiUrl('gemini://h.example:01965/').href).toBe('gemini://h.example/');
  });

  it('accepts the port range bounds', () => {
    expect(parseGeminiUrl('gemini://h.example:1/').port).toBe(1);
    expect(parseGeminiUrl('gemini://h.example:65535/').port).toBe(65535);
  });

  it.each(['0', '65536', '99999999', 'abc', '-1', '19 65', '0x10'])('rejects port %j', (port) => {
    const err = errorOf(() => parseGeminiUrl(`gemini://h.example:${port}/`));
    expect(err.code).toBe('ERR_INVALID_URL');
    expect(err.message).toMatch(/port/);
  });
});

describe('parseGeminiUrl: hosts', () => {
  it('converts IDN hosts to punycode (host, SNI, href)', () => {
    const u = parseGeminiUrl('gemini://münchen.example/');
    expect(u.host).toBe('xn--mnchen-3ya.example');
    expect(u.servername).toBe('xn--mnchen-3ya.example');
    expect(u.href).toBe('gemini://xn--mnchen-3ya.example/');
    expect(u.hostPort).toBe('xn--mnchen-3ya.example:1965');
    expect(parseGeminiUrl('gemini://MÜNCHEN.example/').host).toBe('xn--mnchen-3ya.example');
    expect(parseGeminiUrl('gemini://例え.テスト/').host).toBe('xn--r8jz45g.xn--zckzah');
  });

  it('accepts IPv6 literals without brackets in host and SNI', () => {
    const u = parseGeminiUrl('gemini://[::1]/');
    expect(u.host).toBe('::1');
    expect(u.servername).toBeUndefined();
    expect(u.hostPort).toBe('[::1]:1965');
    expect(u.href).toBe('gemini://[::1]/');
    const p = parseGeminiUrl('gemini://[::1]:1966/x');
    expect(p.port).toBe(1966);
    expect(p.hostPort).toBe('[::1]:1966');
    expect(p.href).toBe('gemini://[::1]:1966/x');
  });

  it('canonicalises IPv6 literals', () => {
    expect(parseGeminiUrl('gemini://[0:0:0:0:0:0:0:1]/').host).toBe('::1');
    expect(parseGeminiUrl('gemini://[2001:DB8::1]/').hostPort).toBe('[2001:db8::1]:1965');
  });

  it('accepts IPv4 literals without SNI', () => {
    const u = parseGeminiUrl('gemini://127.0.0.1:1966/');
    expect(u.host).toBe('127.0.0.1');
    expect(u.servername).toBeUndefined();
    expect(u.hostPort).toBe('127.0.0.1:1966');
  });

  it('accepts localhost and strips a trailing root dot', () => {
    expect(parseGeminiUrl('gemini://localhost/').servername).toBe('localhost');
    expect(parseGeminiUrl('gemini://example.org./').host).toBe('example.org');
  });

  it.each([
    ['gemini://user@h.example/', /userinfo/],
    ['gemini://user:pw@h.example/', /userinfo/],
    ['gemini:///path', /empty host/],
    ['gemini://:1965/', /empty host/],
    ['gemini://h example/', /whitespace or control/],
    ['gemini://h\texample/', /whitespace or control/],
    ['gemini://h\u0001x/', /whitespace or control/],
    ['gemini://a..b/', /invalid host/],
    ['gemini://xn--abc/', /invalid host/],
    ['gemini://ho<st/', /invalid host/],
    ['gemini://ex$ample.org/', /invalid host/],
    [`gemini://${'a'.repeat(64)}.example/`, /invalid host/],
    ['gemini://::1/', /brackets/],
    ['gemini://[::1/', /closing/],
    ['gemini://[::1]x/', /after the IPv6/],
    ['gemini://[zz::1]/', /invalid IPv6/],
    ['gemini://[fe80::1%25eth0]/', /invalid IPv6/],
    ['gemini://1.2.3.4.5/', /invalid host/],
  ])('rejects %j', (input, reason) => {
    const err = errorOf(() => parseGeminiUrl(input));
    expect(err.code).toBe('ERR_INVALID_URL');
    expect(err.message).toMatch(reason);
    expect(err.url).toBe(input);
  });
});

describe('parseGeminiUrl: scheme and absoluteness', () => {
  it('rejects other schemes naming the scheme and quoting the URL', () => {
    const err = errorOf(() => parseGeminiUrl('https://example.org/'));
    expect(err.code).toBe('ERR_INVALID_URL');
    expect(err.message).toContain('not a gemini URL (scheme https:)');
    expect(err.message).toContain('"https://example.org/"');
    expect(errorOf(() => parseGeminiUrl('gopher://h/1')).message).toContain('scheme gopher:');
    expect(errorOf(() => parseGeminiUrl('MAILTO:a@b')).message).toContain('scheme mailto:');
  });

  it('rejects relative input without a base', () => {
    for (const input of ['/path', 'page.gmi', '//h.example/p', 'example.org', '']) {
      expect(errorOf(() => parseGeminiUrl(input)).message).toMatch(/not an absolute URL/);
    }
  });

  it('rejects a gemini URL without authority', () => {
    expect(errorOf(() => parseGeminiUrl('gemini:/path')).message).toMatch(/no host/);
    expect(errorOf(() => parseGeminiUrl('gemini:h.example/path')).message).toMatch(/no host/);
  });

  it('resolves relative input against a base', () => {
    expect(href('other.gmi', 'gemini://h.example/dir/page.gmi')).toBe('gemini://h.example/dir/other.gmi');
    expect(href('//k.example/p', 'gemini://h.example/dir/')).toBe('gemini://k.example/p');
    expect(href('gemini://k.example/x', 'gemini://h.example/')).toBe('gemini://k.example/x');
    expect(errorOf(() => parseGeminiUrl('//k.example/p', 'https://h.example/')).message).toContain('scheme https:');
  });
});

describe('parseGeminiUrl: path normalisation and encoding', () => {
  it.each([
    ['gemini://h/a/./b/../c', 'gemini://h/a/c'],
    ['gemini://h/../../x', 'gemini://h/x'],
    ['gemini://h/a/b/..', 'gemini://h/a/'],
    ['gemini://h/a/b/.', 'gemini://h/a/b/'],
    ['gemini://h/..', 'gemini://h/'],
    ['gemini://h/./', 'gemini://h/'],
    ['gemini://h/a//b/../c', 'gemini://h/a//c'],
    ['gemini://h/a/..b/.c', 'gemini://h/a/..b/.c'],
    ['gemini://h/a?b/../c', 'gemini://h/a?b/../c'],
  ])('normalises %j to %j', (input, expected) => {
    expect(href(input)).toBe(expected);
  });

  it('keeps existing percent escapes as they are', () => {
    expect(href('gemini://h/a%2Fb/%7e%41?x=%2F%zz')).toBe('gemini://h/a%2Fb/%7e%41?x=%2F%25zz');
    expect(href('gemini://h/100%')).toBe('gemini://h/100%25');
  });

  it('percent-encodes spaces, non-ASCII and unsafe characters in path and query', () => {
    expect(href('gemini://h/a b/é?q r=ü')).toBe('gemini://h/a%20b/%C3%A9?q%20r=%C3%BC');
    expect(href('gemini://h/a\tb')).toBe('gemini://h/a%09b');
    expect(href('gemini://h/<x>"{}|\\^`[]')).toBe('gemini://h/%3Cx%3E%22%7B%7D%7C%5C%5E%60%5B%5D');
    expect(href('gemini://h/😀')).toBe('gemini://h/%F0%9F%98%80');
    expect(href('gemini://h/p?a/b?c')).toBe('gemini://h/p?a/b?c');
  });

  it("keeps RFC 3986 sub-delims and ':' '@' unencoded", () => {
    expect(href("gemini://h/!$&'()*+,;=:@-._~")).toBe("gemini://h/!$&'()*+,;=:@-._~");
  });

  it('produces a pure ASCII href', () => {
    expect(href('gemini://münchen.example/ä?ö')).toMatch(/^[\x21-\x7e]+$/);
  });
});

describe('parseGeminiUrl: forbidden characters', () => {
  it('rejects a leading byte order mark', () => {
    expect(errorOf(() => parseGeminiUrl('\uFEFFgemini://h.example/')).message).toMatch(/byte order mark/);
  });

  it.each(['gemini://h.example/a\r\nb', 'gemini://h.example/a\nb', 'gemini://h.example/a\rb', 'gemini://h.example/\u0000', 'gemini://h.example/\r\n'])(
    'rejects CR, LF and NUL anywhere: %j',
    (input) => {
      const err = errorOf(() => parseGeminiUrl(input));
      expect(err.code).toBe('ERR_INVALID_URL');
      expect(err.message).toMatch(/CR, LF or NUL/);
      expect(err.message).not.toMatch(/[\r\n\u0000]/); // quoted with escapes
    },
  );
});

describe('parseGeminiUrl: length limit (gemini-diagnostics)', () => {
  const prefix = 'gemini://h.example/';

  it('accepts a URL of exactly 1024 bytes', () => {
    const input = prefix + 'a'.repeat(MAX_REQUEST_BYTES - prefix.length);
    expect(Buffer.byteLength(input)).toBe(1024);
    expect(href(input)).toBe(input);
  });

  it('rejects 1025 bytes with ERR_URL_TOO_LONG, naming the size and the limit', () => {
    const input = prefix + 'a'.repeat(MAX_REQUEST_BYTES - prefix.length + 1);
    const err = errorOf(() => parseGeminiUrl(input));
    expect(err.code).toBe('ERR_URL_TOO_LONG');
    expect(err.message).toContain('request URL is 1025 bytes; the Gemini limit is 1024');
    expect(err.url).toBe(input);
  });

  it('measures the encoded href, not the input', () => {
    // 340 "é" are 680 UTF-8 bytes but 2040 bytes once percent-encoded.
    const err = errorOf(() => parseGeminiUrl(prefix + 'é'.repeat(340)));
    expect(err.code).toBe('ERR_URL_TOO_LONG');
    expect(err.message).toContain(`${prefix.length + 340 * 6} bytes`);
  });

  it('measures after dropping the fragment and default port', () => {
    const input = 'gemini://h.example:1965/' + 'a'.repeat(MAX_REQUEST_BYTES - prefix.length) + '#frag';
    expect(Buffer.byteLength(href(input))).toBe(1024);
  });
});

describe('resolveReference (RFC 3986 and torture test cases)', () => {
  const base = 'gemini://h.example/dir/sub/page.gmi?q';

  it.each([
    ['gemini://k.example/x', 'gemini://k.example/x'],
    ['//k.example/p', 'gemini://k.example/p'],
    ['//k.example', 'gemini://k.example'],
    ['/abs/path', 'gemini://h.example/abs/path'],
    ['rel.gmi', 'gemini://h.example/dir/sub/rel.gmi'],
    ['./rel.gmi', 'gemini://h.example/dir/sub/rel.gmi'],
    ['../up.gmi', 'gemini://h.example/dir/up.gmi'],
    ['../../top.gmi', 'gemini://h.example/top.gmi'],
    ['../../../../../above.gmi', 'gemini://h.example/above.gmi'],
    ['/../../x', 'gemini://h.example/x'],
    ['.', 'gemini://h.example/dir/sub/'],
    ['..', 'gemini://h.example/dir/'],
    ['', 'gemini://h.example/dir/sub/page.gmi?q'],
    ['?other', 'gemini://h.example/dir/sub/page.gmi?other'],
    ['#frag', 'gemini://h.example/dir/sub/page.gmi?q#frag'],
    ['sub2/', 'gemini://h.example/dir/sub/sub2/'],
    ['a:b', 'a:b'],
    ['./a:b', 'gemini://h.example/dir/sub/a:b'],
  ])('%j against the base gives %j', (ref, expected) => {
    expect(resolveReference(base, ref)).toBe(expected);
  });

  it('merges against an authority with an empty path', () => {
    expect(resolveReference('gemini://h.example', 'x.gmi')).toBe('gemini://h.example/x.gmi');
  });

  it('returns other schemes untouched except for the scheme case', () => {
    expect(resolveReference(base, 'gopher://g.example/1/../x')).toBe('gopher://g.example/1/../x');
    expect(resolveReference(base, 'https://w.example/a?b#c')).toBe('https://w.example/a?b#c');
    expect(resolveReference(base, 'mailto:me@example.org')).toBe('mailto:me@example.org');
    expect(resolveReference(base, 'about:blank')).toBe('about:blank');
    expect(resolveReference(base, 'data:text/plain,hi')).toBe('data:text/plain,hi');
    expect(resolveReference(base, 'HTTPS://W.example/')).toBe('https://W.example/');
  });

  it('gives scheme-relative references the base scheme, whatever it is', () => {
    expect(resolveReference('https://w.example/a', '//x.example/b')).toBe('https://x.example/b');
  });

  it('passes the RFC 3986 section 5.4 normal examples', () => {
    const b = 'http://a/b/c/d;p?q';
    const cases: Array<[string, string]> = [
      ['g:h', 'g:h'],
      ['g', 'http://a/b/c/g'],
      ['./g', 'http://a/b/c/g'],
      ['g/', 'http://a/b/c/g/'],
      ['/g', 'http://a/g'],
      ['//g', 'http://g'],
      ['?y', 'http://a/b/c/d;p?y'],
      ['g?y', 'http://a/b/c/g?y'],
      ['#s', 'http://a/b/c/d;p?q#s'],
      ['g#s', 'http://a/b/c/g#s'],
      ['g?y#s', 'http://a/b/c/g?y#s'],
      [';x', 'http://a/b/c/;x'],
      ['g;x', 'http://a/b/c/g;x'],
      ['', 'http://a/b/c/d;p?q'],
      ['.', 'http://a/b/c/'],
      ['./', 'http://a/b/c/'],
      ['..', 'http://a/b/'],
      ['../', 'http://a/b/'],
      ['../g', 'http://a/b/g'],
      ['../..', 'http://a/'],
      ['../../g', 'http://a/g'],
      ['../../../g', 'http://a/g'],
      ['/./g', 'http://a/g'],
      ['/../g', 'http://a/g'],
      ['g.', 'http://a/b/c/g.'],
      ['.g', 'http://a/b/c/.g'],
      ['g..', 'http://a/b/c/g..'],
      ['..g', 'http://a/b/c/..g'],
      ['./../g', 'http://a/b/g'],
      ['./g/.', 'http://a/b/c/g/'],
      ['g/./h', 'http://a/b/c/g/h'],
      ['g/../h', 'http://a/b/c/h'],
      ['g;x=1/./y', 'http://a/b/c/g;x=1/y'],
      ['g;x=1/../y', 'http://a/b/c/y'],
    ];
    for (const [ref, expected] of cases) expect(resolveReference(b, ref), ref).toBe(expected);
  });

  it('ignores surrounding whitespace of the reference (e.g. a redirect META)', () => {
    expect(resolveReference(base, '  /x  ')).toBe('gemini://h.example/x');
  });

  it('throws for a relative base and for CR/LF/NUL', () => {
    const err = errorOf(() => resolveReference('/relative', 'x'));
    expect(err.code).toBe('ERR_INVALID_URL');
    expect(err.message).toMatch(/not absolute/);
    expect(errorOf(() => resolveReference(base, '/a\r\nb')).message).toMatch(/CR, LF or NUL/);
    expect(errorOf(() => resolveReference('gemini://h/\n', 'x')).message).toMatch(/CR, LF or NUL/);
  });
});

describe('withInput (egsam input cases)', () => {
  it('encodes `1% + #x = -1 & ?` completely', () => {
    expect(withInput('gemini://h.example/search', '1% + #x = -1 & ?')).toBe(
      'gemini://h.example/search?1%25%20%2B%20%23x%20%3D%20-1%20%26%20%3F',
    );
  });

  it('replaces an existing query, including an empty one', () => {
    expect(withInput('gemini://h.example/s?old=1', 'new')).toBe('gemini://h.example/s?new');
    expect(withInput('gemini://h.example/s?', 'new')).toBe('gemini://h.example/s?new');
  });

  it('accepts a parsed GeminiUrl', () => {
    const u = parseGeminiUrl('gemini://h.example:1966/s?x#f');
    expect(withInput(u, 'a b')).toBe('gemini://h.example:1966/s?a%20b');
  });

  it('encodes non-ASCII as UTF-8 and an empty answer as an empty query', () => {
    expect(withInput('gemini://h.example/s', 'héllo wörld')).toBe('gemini://h.example/s?h%C3%A9llo%20w%C3%B6rld');
    expect(withInput('gemini://h.example/s', '')).toBe('gemini://h.example/s?');
    expect(withInput('gemini://h.example/s', 'a\r\nb')).toBe('gemini://h.example/s?a%0D%0Ab');
  });

  it('turns lone surrogates into U+FFFD instead of throwing', () => {
    expect(withInput('gemini://h.example/s', 'a\uD800b')).toBe('gemini://h.example/s?a%EF%BF%BDb');
  });

  it('round-trips through parseGeminiUrl unchanged', () => {
    const out = withInput('gemini://h.example/s', '1% + #x = -1 & ? é/~');
    expect(href(out)).toBe(out);
  });

  it('throws ERR_URL_TOO_LONG for very long input', () => {
    const err = errorOf(() => withInput('gemini://h.example/s', 'x'.repeat(2000)));
    expect(err.code).toBe('ERR_URL_TOO_LONG');
    expect(err.message).toMatch(/the Gemini limit is 1024/);
  });

  it('accepts input that fills the URL to exactly 1024 bytes', () => {
    const base = 'gemini://h.example/s';
    const out = withInput(base, 'x'.repeat(MAX_REQUEST_BYTES - base.length - 1));
    expect(Buffer.byteLength(out)).toBe(1024);
  });

  it('throws ERR_INVALID_URL for an invalid string URL', () => {
    expect(errorOf(() => withInput('https://h.example/', 'x')).code).toBe('ERR_INVALID_URL');
  });
});

describe('fromUserInput', () => {
  it.each([
    ['example.org/path', 'gemini://example.org/path'],
    ['example.org', 'gemini://example.org'],
    ['  example.org/x  ', 'gemini://example.org/x'],
    ['localhost:1966/x', 'gemini://localhost:1966/x'],
    ['example.org:1965', 'gemini://example.org:1965'],
    ['127.0.0.1:1965/', 'gemini://127.0.0.1:1965/'],
    ['[::1]:1966/', 'gemini://[::1]:1966/'],
    ['//example.org/p', 'gemini://example.org/p'],
    ['münchen.example/', 'gemini://münchen.example/'],
    ['gemini://example.org/', 'gemini://example.org/'],
    [' GEMINI://example.org/ ', 'GEMINI://example.org/'],
    ['https://example.org/', 'https://example.org/'],
    ['gopher://example.org/1/', 'gopher://example.org/1/'],
    ['mailto:me@example.org', 'mailto:me@example.org'],
    ['', ''],
  ])('%j -> %j', (input, expected) => {
    expect(fromUserInput(input)).toBe(expected);
  });

  it('produces URLs parseGeminiUrl accepts', () => {
    expect(href(fromUserInput('example.org/a b'))).toBe('gemini://example.org/a%20b');
  });
});
