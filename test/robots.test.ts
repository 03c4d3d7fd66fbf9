import { describe, expect, it } from 'vitest';
import { parseRobots } from '../src/robots.js';

describe('parseRobots', () => {
  it('applies the * group and the requested virtual agent as a union', () => {
    const text = [
      'User-agent: *',
      'Disallow: /private',
      '',
      'User-agent: researcher',
      'Disallow: /cgi-bin/',
      '',
      'User-agent: archiver',
      'Disallow: /',
    ].join('\n');
    const rules = parseRobots(text, ['researcher']);
    expect(rules.isAllowed('/')).toBe(true);
    expect(rules.isAllowed('/index.gmi')).toBe(true);
    expect(rules.isAllowed('/private')).toBe(false);
    expect(rules.isAllowed('/private/x.gmi')).toBe(false);
    expect(rules.isAllowed('/privateer')).toBe(false); // prefix match, as in the spec
    expect(rules.isAllowed('/cgi-bin/search?q')).toBe(false);
    expect(rules.isAllowed('/cgi-bin')).toBe(true);
    expect(rules.groups).toHaveLength(3);
    expect(rules.applicableGroups.map((g) => g.agents)).toEqual([['*'], ['researcher']]);

    const archiver = parseRobots(text, ['archiver']);
    expect(archiver.isAllowed('/anything')).toBe(false);
  });

  it('treats an empty Disallow as allowing everything', () => {
    const rules = parseRobots('User-agent: *\nDisallow:\n', ['indexer']);
    expect(rules.isAllowed('/')).toBe(true);
    expect(rules.isAllowed('/a/b')).toBe(true);
    expect(rules.groups[0]?.disallow).toEqual([]);
  });

  it('allows everything with an empty file or no applicable group', () => {
    expect(parseRobots('', ['researcher']).isAllowed('/x')).toBe(true);
    expect(parseRobots('User-agent: webproxy\nDisallow: /\n', ['researcher']).isAllowed('/x')).toBe(true);
  });

  it('groups consecutive User-agent lines and starts a new group after a rule', () => {
    const text = 'User-agent: indexer\nUser-agent: archiver\nDisallow: /a\nUser-agent: researcher\nDisallow: /r\n';
    const rules = parseRobots(text, ['archiver']);
    expect(rules.groups.map((g) => g.agents)).toEqual([['indexer', 'archiver'], ['researcher']]);
    expect(rules.isAllowed('/a/x')).toBe(false);
    expect(rules.isAllowed('/r/x')).toBe(true);
  });

  it('matches field names and agents case-insensitively and trims values', () => {
    const rules = parseRobots('USER-AGENT:   MyBot  \ndisallow:   /secret  \n', ['mybot']);
    expect(rules.isAllowed('/secret/1')).toBe(false);
    const byName = parseRobots('User-agent: mybot\nDisallow: /x\n', ['researcher', 'MyBot']);
    expect(byName.isAllowed('/x')).toBe(false);
  });

  it('tolerates BOM, CRLF, comments and junk lines', () => {
    const text = '\uFEFFUser-agent: * # everyone\r\n# a comment line\r\nthis is junk\r\nCrawl-delay: 10\r\nDisallow: /no # trailing comment\r\n';
    const rules = parseRobots(text, []);
    expect(rules.isAllowed('/no')).toBe(false);
    expect(rules.isAllowed('/yes')).toBe(true);
    expect(rules.groups).toEqual([{ agents: ['*'], disallow: ['/no'], allow: [] }]);
  });

  it('parses robots served as text/gemini the same way', () => {
    const text = [
      '# robots.txt for my capsule',
      '',
      'Polite bots, please read below.',
      '=> gemini://example.org/ Home',
      '```',
      'User-agent: indexer',
      'Disallow: /log/',
      '```',
      '* a list item',
    ].join('\n');
    const rules = parseRobots(text, ['indexer']);
    expect(rules.isAllowed('/log/2024.gmi')).toBe(false);
    expect(rules.isAllowed('/')).toBe(true);
  });

  it('ignores rules that appear before any User-agent line', () => {
    const rules = parseRobots('Disallow: /\nUser-agent: *\nDisallow: /b\n', ['x']);
    expect(rules.isAllowed('/a')).toBe(true);
    expect(rules.isAllowed('/b')).toBe(false);
  });

  it('implements Allow with longest-match precedence (extension)', () => {
    const text = 'User-agent: *\nDisallow: /docs/\nAllow: /docs/public/\nAllow: /x\nDisallow: /x/private\n';
    const rules = parseRobots(text, []);
    expect(rules.isAllowed('/docs/secret')).toBe(false);
    expect(rules.isAllowed('/docs/public/a.gmi')).toBe(true);
    expect(rules.isAllowed('/x/ok')).toBe(true);
    expect(rules.isAllowed('/x/private/1')).toBe(false);
    const tie = parseRobots('User-agent: *\nDisallow: /t\nAllow: /t\n', []);
    expect(tie.isAllowed('/t')).toBe(true);
  });

  it('compares raw paths, with percent-escape hex case normalised', () => {
    const rules = parseRobots('User-agent: *\nDisallow: /%7euser/\nDisallow: /a b\n', []);
    expect(rules.isAllowed('/%7Euser/page')).toBe(false);
    expect(rules.isAllowed('/~user/page')).toBe(true); // no decoding: raw comparison
    expect(rules.isAllowed('/a%20b')).toBe(true);
  });

  it('treats an empty path as /', () => {
    expect(parseRobots('User-agent: *\nDisallow: /\n', []).isAllowed('')).toBe(false);
    expect(parseRobots('User-agent: *\nDisallow: /x\n', []).isAllowed('')).toBe(true);
  });

  it('matches queries as part of the path', () => {
    const rules = parseRobots('User-agent: *\nDisallow: /search?\n', []);
    expect(rules.isAllowed('/search?q=gemini')).toBe(false);
    expect(rules.isAllowed('/search')).toBe(true);
  });
});
