import { describe, expect, it } from 'vitest';
import { MAX_ROBOTS_PATTERN_LENGTH, parseRobots } from '../src/protocol/robots.js';

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
    expect(rules.applicableGroups.map((g) => g.agents)).toEqual([['researcher'], ['*']]); // most specific first

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

  it('asks the most specific group first: own name, then virtual agent, then *', () => {
    const text = [
      'User-agent: *',
      'Disallow: /',
      '',
      'User-agent: researcher',
      'Allow: /stats/',
      'Disallow: /stats/raw/',
      '',
      'User-agent: gemfetch',
      'Allow: /stats/raw/summary.gmi',
    ].join('\n');
    const rules = parseRobots(text, ['gemfetch', 'researcher']);
    expect(rules.applicableGroups.map((g) => g.agents)).toEqual([['gemfetch'], ['researcher'], ['*']]);
    expect(rules.isAllowed('/stats/raw/summary.gmi')).toBe(true); // own name allows it
    expect(rules.isAllowed('/stats/raw/other.gmi')).toBe(false); // the virtual agent's longest rule
    expect(rules.isAllowed('/stats/index.gmi')).toBe(true); // the virtual agent allows what * disallows
    expect(rules.isAllowed('/other')).toBe(false); // neither specific group mentions it: * decides
    // Without the specific groups, * alone decides.
    expect(parseRobots(text, ['indexer']).isAllowed('/stats/index.gmi')).toBe(false);
  });

  it('keeps the union of * and the virtual agent for paths the specific group does not mention', () => {
    const rules = parseRobots('User-agent: *\nDisallow: /private\n\nUser-agent: archiver\nDisallow: /tmp\n', ['gemfetch', 'archiver']);
    expect(rules.isAllowed('/private/x')).toBe(false);
    expect(rules.isAllowed('/tmp/x')).toBe(false);
    expect(rules.isAllowed('/public')).toBe(true);
  });

  it('understands * wildcards and the $ end anchor', () => {
    const text = [
      'User-agent: *',
      'Disallow: /*.zip$',
      'Disallow: /cgi-bin/*?',
      'Disallow: /exact$',
      'Disallow: /a*b*c',
      'Allow: /cgi-bin/public*',
    ].join('\n');
    const rules = parseRobots(text, []);
    expect(rules.isAllowed('/files/big.zip')).toBe(false);
    expect(rules.isAllowed('/files/big.zip.txt')).toBe(true); // $ anchors
    expect(rules.isAllowed('/cgi-bin/search?q=x')).toBe(false);
    expect(rules.isAllowed('/cgi-bin/search')).toBe(true);
    expect(rules.isAllowed('/cgi-bin/public?q=1')).toBe(true); // the longer Allow wins
    expect(rules.isAllowed('/exact')).toBe(false);
    expect(rules.isAllowed('/exactly')).toBe(true);
    expect(rules.isAllowed('/a-b-c-d')).toBe(false);
    expect(rules.isAllowed('/a-c-b')).toBe(true); // parts must come in order
    expect(rules.isAllowed('/x/a/b/c')).toBe(true); // anchored at the start of the path
  });

  it('matches a hostile pattern in time linear in the path (no backtracking)', () => {
    const pattern = `/${'a*'.repeat(500)}b`;
    const rules = parseRobots(`User-agent: *\nDisallow: ${pattern}\n`, []);
    const path = `/${'a'.repeat(100_000)}`;
    // A backtracking matcher (a regular expression of .* runs) does not finish this within the test timeout.
    expect(rules.isAllowed(path)).toBe(true);
    expect(rules.isAllowed(`${path}b`)).toBe(false);
  });

  it('ignores patterns longer than MAX_ROBOTS_PATTERN_LENGTH', () => {
    const rules = parseRobots(`User-agent: *\nDisallow: /${'x'.repeat(MAX_ROBOTS_PATTERN_LENGTH)}\n`, []);
    expect(rules.isAllowed(`/${'x'.repeat(MAX_ROBOTS_PATTERN_LENGTH + 10)}`)).toBe(true);
  });
});
