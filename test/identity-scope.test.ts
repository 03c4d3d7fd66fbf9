/** Identity scopes (pure, no sockets): parsing, path-segment-aware matching, most specific wins. */
import { describe, expect, it } from 'vitest';
import { formatScope, mostSpecificScope, parseScope, scopeCovers, type IdentityScope } from '../src/trust/identity-scope.js';
import { parseGeminiUrl } from '../src/protocol/url.js';
import { parseTitanUrl } from '../src/protocol/titan-url.js';

const covers = (scope: string, url: string): boolean =>
  scopeCovers(parseScope(scope), url.startsWith('titan:') ? parseTitanUrl(url) : parseGeminiUrl(url));

describe('parseScope', () => {
  it('normalises host, port and path like a request URL', () => {
    expect(parseScope('gemini://Example.ORG/foo')).toEqual({ host: 'example.org', port: 1965, path: '/foo' });
    expect(parseScope('example.org:1966/a/./b')).toEqual({ host: 'example.org', port: 1966, path: '/a/b' });
    expect(parseScope('titan://[::1]:7000/wiki')).toEqual({ host: '::1', port: 7000, path: '/wiki' });
    expect(parseScope('gemini://example.org')).toEqual({ host: 'example.org', port: 1965, path: '/' });
  });

  it('refuses what is not a host, port and path, naming the scope', () => {
    expect(() => parseScope('gemini://example.org/search?q')).toThrow(/invalid scope "gemini:\/\/example.org\/search\?q".*remove the query/);
    expect(() => parseScope('https://example.org/')).toThrow(/invalid scope "https:\/\/example.org\/".*not a gemini URL/);
    expect(() => parseScope('')).toThrow(/invalid scope ""/);
    expect(() => parseScope('gemini://example.org:99999/')).toThrow(/invalid scope/);
  });

  it('formats back to a URL, port left out when 1965', () => {
    expect(formatScope(parseScope('example.org/a'))).toBe('gemini://example.org/a');
    expect(formatScope(parseScope('titan://[::1]:7000/w'))).toBe('gemini://[::1]:7000/w');
  });
});

describe('scopeCovers', () => {
  it('covers the prefix itself and everything below it', () => {
    expect(covers('example.org/foo', 'gemini://example.org/foo')).toBe(true);
    expect(covers('example.org/foo', 'gemini://example.org/foo/')).toBe(true);
    expect(covers('example.org/foo', 'gemini://example.org/foo/bar/baz.gmi?q=1')).toBe(true);
  });

  it('is path-segment aware: /foo does not cover /foobar', () => {
    expect(covers('example.org/foo', 'gemini://example.org/foobar')).toBe(false);
    expect(covers('example.org/foo/', 'gemini://example.org/foo')).toBe(false);
    expect(covers('example.org/foo/', 'gemini://example.org/foo/x')).toBe(true);
  });

  it('needs the same port and host', () => {
    expect(covers('example.org/foo', 'gemini://example.org:1966/foo')).toBe(false);
    expect(covers('example.org:1966/foo', 'gemini://example.org:1966/foo')).toBe(true);
    expect(covers('example.org/', 'gemini://other.org/')).toBe(false);
    expect(covers('example.org/', 'gemini://sub.example.org/')).toBe(false);
  });

  it('the root covers the whole host:port', () => {
    expect(covers('example.org/', 'gemini://example.org/')).toBe(true);
    expect(covers('example.org', 'gemini://example.org/any/deep/path')).toBe(true);
  });

  it('a titan:// upload is matched like the gemini:// page of the same path', () => {
    expect(covers('gemini://example.org/wiki', 'titan://example.org/wiki/page.gmi;size=3;mime=text/plain')).toBe(true);
    expect(covers('gemini://example.org/wiki', 'titan://example.org/wikipedia;size=3')).toBe(false);
  });
});

describe('mostSpecificScope', () => {
  const ids: Array<{ name: string; scopes: IdentityScope[] }> = [
    { name: 'site', scopes: [parseScope('example.org/')] },
    { name: 'forum', scopes: [parseScope('example.org/forum'), parseScope('other.org/x')] },
    { name: 'admin', scopes: [parseScope('example.org/forum/admin')] },
  ];
  const pick = (url: string): string | undefined => mostSpecificScope(ids, (i) => i.scopes, parseGeminiUrl(url))?.candidate.name;

  it('the longest covering path wins, whatever the order', () => {
    expect(pick('gemini://example.org/')).toBe('site');
    expect(pick('gemini://example.org/forum/thread/1')).toBe('forum');
    expect(pick('gemini://example.org/forum/admin/users')).toBe('admin');
    expect(pick('gemini://example.org/forumx')).toBe('site');
    expect(mostSpecificScope([...ids].reverse(), (i) => i.scopes, parseGeminiUrl('gemini://example.org/forum/admin'))?.candidate.name).toBe('admin');
  });

  it('nothing covers another host or port', () => {
    expect(pick('gemini://example.net/')).toBeUndefined();
    expect(pick('gemini://example.org:1966/forum')).toBeUndefined();
    expect(pick('gemini://other.org/x/y')).toBe('forum');
  });
});

describe('equivalent spellings of a path (RFC 3986 6.2.2), found by review', () => {
  it('a percent-encoded unreserved character is the character: /~alice, /%7Ealice and /%7ealice are one scope', () => {
    expect(covers('gemini://example.org/~alice', 'gemini://example.org/%7Ealice/notes')).toBe(true);
    expect(covers('gemini://example.org/%7Ealice', 'gemini://example.org/~alice/notes')).toBe(true);
    expect(covers('gemini://example.org/%7ealice', 'gemini://example.org/%7Ealice')).toBe(true);
    expect(covers('gemini://example.org/app', 'gemini://example.org/%61pp/x')).toBe(true);
    expect(parseScope('gemini://example.org/%7Ealice')).toEqual({ host: 'example.org', port: 1965, path: '/~alice' });
    expect(formatScope(parseScope('gemini://example.org/%7ealice/%2fx'))).toBe('gemini://example.org/~alice/%2Fx');
  });

  it('an encoded dot segment climbs like "..": /private/%2e%2e/other is /other, outside the scope /private/', () => {
    expect(covers('gemini://example.org/~alice/', 'gemini://example.org/~alice/%2e%2e/~bob/x')).toBe(false);
    expect(covers('gemini://example.org/~alice/', 'gemini://example.org/~alice/%2E%2E/~bob/x')).toBe(false);
    expect(covers('gemini://example.org/~alice/', 'gemini://example.org/~alice/%2e/x')).toBe(true);
    expect(covers('gemini://example.org/~bob', 'gemini://example.org/~alice/%2e%2e/~bob/x')).toBe(true);
    expect(covers('gemini://example.org/a/', 'gemini://example.org/a/b/%2e%2e')).toBe(true); // "/a/b/.." is "/a/"
    expect(covers('gemini://example.org/a', 'gemini://example.org/%2e%2e/%2e%2e/a')).toBe(true); // never above the root
  });

  it('an encoded reserved character stays an escape: %2F is not a path separator, and its hex case does not matter', () => {
    expect(covers('gemini://example.org/a', 'gemini://example.org/a%2Fb')).toBe(false);
    expect(covers('gemini://example.org/a%2Fb', 'gemini://example.org/a/b')).toBe(false);
    expect(covers('gemini://example.org/a%2fb', 'gemini://example.org/a%2Fb/c')).toBe(true);
    expect(covers('gemini://example.org/a%20b', 'gemini://example.org/a b/c')).toBe(true);
  });

  it('the most specific scope is judged on the equivalent spelling', () => {
    const ids = [
      { name: 'home', scopes: [parseScope('gemini://example.org/~alice')] },
      { name: 'wiki', scopes: [parseScope('gemini://example.org/~alice/wiki')] },
    ];
    expect(mostSpecificScope(ids, (i) => i.scopes, parseGeminiUrl('gemini://example.org/%7Ealice/wiki/page'))?.candidate.name).toBe('wiki');
    expect(mostSpecificScope(ids, (i) => i.scopes, parseGeminiUrl('gemini://example.org/%7Ealice/wiki/%2e%2e/x'))?.candidate.name).toBe('home');
  });
});
