/**
 * One message format everywhere in the CLI (src/cli/messages.ts):
 * `gemfetch: <what> (<which URL/option>): <why>. <hint>`. The formatter is
 * tested alone, then many error paths run through the real CLI against real
 * servers on 127.0.0.1: the URL named once, no nested parentheses, one hint
 * style (`Try 'gemfetch CMD --help'.`, the subcommand's own), yargs' raw
 * wording rephrased, no stack trace, no OpenSSL dump.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchErrorMessage, formatMessage, helpHint, incompleteWarning, usageErrorMessage, withoutUrl } from '../src/cli/messages.js';
import { UsageError } from '../src/cli/usage-error.js';
import { redirect, respondWith, routes, sendRaw, stall } from './support/gemini-server.js';
import { cliFixture, runCli } from './support/cli.js';

/** Deepest nesting of parentheses in `text`. */
function parenDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (const c of text) {
    if (c === '(') max = Math.max(max, ++depth);
    else if (c === ')') depth--;
  }
  return max;
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('the formatter (pure)', () => {
  it('formatMessage: what (which): why. hint', () => {
    expect(formatMessage({ what: 'invalid size', which: '--max-size', why: '"10x" is not a size', hint: helpHint() })).toBe(
      `gemfetch: invalid size (--max-size): "10x" is not a size. Try 'gemfetch --help'.`,
    );
    expect(formatMessage({ what: 'no URL given' })).toBe('gemfetch: no URL given.');
    expect(formatMessage({ what: 'x', why: 'is it?' })).toBe('gemfetch: x: is it?');
    expect(helpHint('crawl')).toBe("Try 'gemfetch crawl --help'.");
  });

  it("usageErrorMessage rephrases yargs' wording, naming the option as typed", () => {
    const yargs = (message: string) => Object.assign(new Error(message), { name: 'YError' });
    expect(usageErrorMessage(yargs('Unknown argument: bogus'), 'crawl', ['--bogus'])).toBe(
      "gemfetch: unknown option (--bogus): gemfetch crawl has no such option. Try 'gemfetch crawl --help'.",
    );
    expect(usageErrorMessage(yargs('Unknown arguments: y, z'), 'tofu', ['pin', 'h', 'f', 'y', 'z'])).toBe(
      "gemfetch: unexpected arguments (y, z): gemfetch tofu takes no more arguments. Try 'gemfetch tofu --help'.",
    );
    expect(usageErrorMessage(yargs('Not enough arguments following: max-size'), undefined, ['--max-size'])).toBe(
      "gemfetch: missing value (--max-size): the option needs a value. Try 'gemfetch --help'.",
    );
    expect(usageErrorMessage(yargs('Invalid values:\n  Argument: tofu, Given: "bad", Choices: "tofu", "ca", "insecure"'), undefined, ['--tofu=bad'])).toBe(
      `gemfetch: invalid value (--tofu): "bad" is not one of tofu, ca, insecure. Try 'gemfetch --help'.`,
    );
    expect(usageErrorMessage(yargs('Arguments output and remote-name are mutually exclusive'), undefined, [])).toBe(
      "gemfetch: conflicting options (--output, --remote-name): they cannot be used together. Try 'gemfetch --help'.",
    );
    expect(usageErrorMessage(yargs('Not enough non-option arguments: got 0, need at least 1'), 'tofu')).not.toContain('non-option');
  });

  it('usageErrorMessage uses the parts of a UsageError, and splits older messages at a leading option', () => {
    expect(usageErrorMessage(new UsageError('"1x" is not a duration', { what: 'invalid duration', which: '--delay' }), 'batch')).toBe(
      `gemfetch: invalid duration (--delay): "1x" is not a duration. Try 'gemfetch batch --help'.`,
    );
    expect(usageErrorMessage(new UsageError('--max-time: invalid duration "1x": expected seconds'), undefined)).toBe(
      `gemfetch: invalid duration "1x" (--max-time): expected seconds. Try 'gemfetch --help'.`,
    );
    expect(usageErrorMessage(new UsageError('--max-size 0: a crawl needs a limit (default 16M)'), 'crawl')).toBe(
      "gemfetch: invalid value (--max-size 0): a crawl needs a limit (default 16M). Try 'gemfetch crawl --help'.",
    );
  });

  it('incompleteWarning: the same format (the caller adds gemfetch: )', () => {
    expect(incompleteWarning('gemini://h/', 12, { termination: 'tcp_fin' })).toBe(
      'incomplete response (gemini://h/): 12 B received; no TLS close_notify: the server closed TCP (possible truncation).',
    );
  });

  it('fetchErrorMessage names the URL once and gives hints as sentences', () => {
    const url = 'gemini://example.org/a';
    expect(fetchErrorMessage(url, { code: 'ERR_BAD_HEADER', message: `bad response header from ${url}: status "2x" is not two digits` })).toBe(
      `gemfetch: bad response header (${url}): status "2x" is not two digits.`,
    );
    expect(fetchErrorMessage(url, { code: 'ERR_TIMEOUT', message: `header timeout after 1000 ms fetching ${url}` })).toBe(
      `gemfetch: timed out (${url}): header timeout after 1000 ms.`,
    );
    expect(fetchErrorMessage(url, { code: 'ERR_CONNECT', message: 'cannot connect to example.org:1965: connection refused' })).toBe(
      `gemfetch: cannot connect to example.org:1965 (${url}): connection refused. Is the server running, and the port right?`,
    );
    expect(withoutUrl(`connection to ${url} failed`, [url])).toBe('the connection failed');
    expect(withoutUrl(`${url} redirected (status 30) to "x"`, [url])).toBe('it redirected (status 30) to "x"');
    expect(withoutUrl(`gemini://h/b redirects to ${url}, already visited`, [url])).toBe('gemini://h/b redirects back to it, already visited');
  });
});

const cli = cliFixture(
  routes({
    '/': respondWith('20 text/plain', 'hello'),
    '/bad-header': sendRaw('2x oops\r\n'),
    '/bare-lf': sendRaw('20 text/plain\nbody\n'),
    '/loop-a': redirect('/loop-b'),
    '/loop-b': redirect('/loop-a'),
    '/bad-redirect': redirect('gemini:nohost'),
    '/stall': stall(),
    '/missing': respondWith('51 Not here'),
    '/to-https': redirect('https://example.org/'),
  }),
);

/** A plain-TCP server (answers like a web server), and a port nothing listens on. */
let plain: net.Server;
let plainPort = 0;
let closedPort = 0;
beforeAll(async () => {
  plain = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  plainPort = (plain.address() as net.AddressInfo).port;
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});
afterAll(async () => {
  await new Promise<void>((resolve) => (plain ? plain.close(() => resolve()) : resolve()));
});

interface Case {
  args: () => string[];
  code: number;
  says: () => string;
  /** The subcommand whose help the hint names; null: no hint expected (not a usage error). */
  help: string | undefined | null;
}

const USAGE: Array<[string, Case]> = [
  ['tofu alone', { args: () => ['tofu'], code: 2, says: () => 'tofu needs an action: list, check', help: 'tofu' }],
  ['tofu with an unknown action', { args: () => ['tofu', 'frob'], code: 2, says: () => 'invalid value (tofu action): "frob" is not one of list, check, forget, trust, pin', help: 'tofu' }],
  ['tofu with an unknown option', { args: () => ['tofu', 'list', '--bogus'], code: 2, says: () => 'unknown option (--bogus): gemfetch tofu has no such option', help: 'tofu' }],
  ['--max-size 10x', { args: () => ['--max-size', '10x', cli.server.url('/')], code: 2, says: () => 'invalid size (--max-size): "10x" is not a number of bytes', help: undefined }],
  ['crawl --max-size 10x', { args: () => ['crawl', '--max-size', '10x', cli.server.url('/')], code: 2, says: () => 'invalid size (--max-size): "10x"', help: 'crawl' }],
  ['batch --delay 1x', { args: () => ['batch', '--delay', '1x', '-f', '/dev/null'], code: 2, says: () => 'invalid duration (--delay): "1x"', help: 'batch' }],
  ['batch with an unknown option', { args: () => ['batch', '--bogus'], code: 2, says: () => 'unknown option (--bogus): gemfetch batch has no such option', help: 'batch' }],
  ['survey with no host', { args: () => ['survey'], code: 2, says: () => 'missing argument (survey): needs at least one host', help: 'survey' }],
  ['put with no URL', { args: () => ['put'], code: 2, says: () => 'put needs a titan:// URL', help: 'put' }],
  ['an unknown option', { args: () => ['--bogus', cli.server.url('/')], code: 2, says: () => 'unknown option (--bogus): gemfetch has no such option', help: undefined }],
  ['an option without its value', { args: () => ['--max-size'], code: 2, says: () => 'missing value (--max-size): the option needs a value', help: undefined }],
  ['a bad choice', { args: () => ['--tofu', 'bad', cli.server.url('/')], code: 2, says: () => 'invalid value (--tofu): "bad" is not one of tofu, ca, insecure', help: undefined }],
  ['conflicting options', { args: () => ['-o', 'x', '-O', cli.server.url('/')], code: 2, says: () => 'conflicting options (--output, --remote-name): they cannot be used together', help: undefined }],
  ['no URL', { args: () => [], code: 2, says: () => 'no URL given: give one or more gemini URLs', help: undefined }],
  ['a bad --max-time', { args: () => ['--max-time', '1x', cli.server.url('/')], code: 2, says: () => 'invalid duration (--max-time): "1x" is not a number of seconds', help: undefined }],
  ['tofu trust --connect-timeout 1y', { args: () => ['tofu', 'trust', 'example.org', '--connect-timeout', '1y'], code: 2, says: () => 'invalid duration (--connect-timeout): "1y"', help: 'tofu' }],
];

const FETCH: Array<[string, Case]> = [
  ['a server that does not speak TLS', { args: () => [`gemini://127.0.0.1:${plainPort}/`], code: 1, says: () => `TLS failed (gemini://127.0.0.1:${plainPort}/): 127.0.0.1:${plainPort} did not answer with TLS (wrong version number).`, help: null }],
  ['a refused connection', { args: () => [`gemini://127.0.0.1:${closedPort}/`], code: 1, says: () => `cannot connect to 127.0.0.1:${closedPort} (gemini://127.0.0.1:${closedPort}/): connection refused. Is the server running, and the port right?`, help: null }],
  ['a malformed header', { args: () => [cli.server.url('/bad-header')], code: 1, says: () => `bad response header (${cli.server.url('/bad-header')}): `, help: null }],
  ['a header ending in a bare LF', { args: () => [cli.server.url('/bare-lf')], code: 1, says: () => 'bare LF; Gemini requires CRLF', help: null }],
  ['a redirect loop', { args: () => [cli.server.url('/loop-a')], code: 8, says: () => `redirect loop (${cli.server.url('/loop-a')}): ${cli.server.url('/loop-b')} redirects back to it`, help: null }],
  ['a redirect to an invalid URL', { args: () => [cli.server.url('/bad-redirect')], code: 8, says: () => `bad redirect (${cli.server.url('/bad-redirect')}): it redirected (status 30) to an invalid URL "gemini:nohost"`, help: null }],
  ['a header timeout', { args: () => ['--header-timeout', '1s', cli.server.url('/stall')], code: 1, says: () => `timed out (${cli.server.url('/stall')}): header timeout after 1000 ms`, help: null }],
  ['a permanent failure', { args: () => [cli.server.url('/missing')], code: 5, says: () => `gemfetch: 51 not found (${cli.server.url('/missing')}): Not here.`, help: null }],
  ['a redirect not followed', { args: () => [cli.server.url('/to-https')], code: 8, says: () => `gemfetch: redirect not followed (${cli.server.url('/to-https')}): 30 temporary redirect to https://example.org/: it leads to another scheme; gemfetch never follows those.`, help: null }],
  ['put to a server that does not speak TLS', { args: () => ['put', `titan://127.0.0.1:${plainPort}/x`, '-'], code: 1, says: () => `gemfetch: TLS failed (titan://127.0.0.1:${plainPort}/x): 127.0.0.1:${plainPort} did not answer with TLS (wrong version number).`, help: null }],
  ['an invalid URL', { args: () => ['http://example.org/'], code: 2, says: () => 'invalid gemini URL (http://example.org/): not a gemini URL (scheme http:). A URL looks like gemini://host/path; the scheme may be left out.', help: null }],
];

describe.concurrent('whatever the locale', () => {
  it.each([
    [['--bogus', 'x'], "gemfetch: unknown option (--bogus): gemfetch has no such option. Try 'gemfetch --help'."],
    [['tofu', 'frob'], 'gemfetch: invalid value (tofu action): "frob" is not one of list, check, forget, trust, pin.'],
    [['crawl', '--bogus'], "gemfetch: unknown option (--bogus): gemfetch crawl has no such option. Try 'gemfetch crawl --help'."],
  ])('%j under LANG=fr_FR gives the same English line (yargs would translate half of it)', async (args, line) => {
    const r = await runCli(cli.home, args, { timeoutMs: 60_000, env: { LANG: 'fr_FR.UTF-8', LC_ALL: 'fr_FR.UTF-8' } });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toContain(line);
  });
});

describe.concurrent('error paths through the real CLI', () => {
  it.each([...USAGE, ...FETCH])('%s', async (_, c) => {
    const args = c.args();
    const r = await runCli(cli.home, args, { timeoutMs: 60_000 });
    const lines = r.stderr.trimEnd().split('\n');
    expect(r.code, r.stderr).toBe(c.code);
    expect(r.stdout.length).toBe(0);
    expect(lines, r.stderr).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatch(/^gemfetch: [^()]+?(?: \([^()]+\))?[:.](?: |$)/);
    expect(line).toContain(c.says());
    expect(parenDepth(line), line).toBeLessThanOrEqual(1);
    // A fetch error names its URL once; a usage error names it at most once.
    for (const arg of args.filter((a) => a.includes('://'))) expect(occurrences(line, arg), line).toBe(c.help === null ? 1 : Math.min(1, occurrences(line, arg)));
    expect(line).not.toMatch(/\n\s+at |SSL routines|Not enough non-option|Unknown argument|Invalid values|for more information|`gemfetch --help`/);
    if (c.help === null) {
      expect(line).not.toContain('--help');
    } else {
      expect(line.endsWith(` ${helpHint(c.help)}`), line).toBe(true);
      expect(occurrences(line, 'Try ')).toBe(1);
    }
  });
});

describe('usage messages that name an option or command without a colon keep their (which) (found by review)', () => {
  const usage = (message: string, command?: string): string => usageErrorMessage({ message }, command);
  it('conflicts, missing options, values, repetitions and missing arguments', () => {
    expect(usage('-4 and -6 cannot be used together')).toBe("gemfetch: conflicting options (-4, -6): they cannot be used together. Try 'gemfetch --help'.");
    expect(usage('--key needs --cert')).toBe("gemfetch: missing option (--cert): --key needs --cert. Try 'gemfetch --help'.");
    expect(usage('--warc-gzip needs --warc FILE', 'crawl')).toBe("gemfetch: missing option (--warc): --warc-gzip needs --warc FILE. Try 'gemfetch crawl --help'.");
    // yargs names an unknown --warc-gzip warcGzip: the option as typed is named.
    expect(usageErrorMessage({ message: 'Unknown argument: warcGzip' }, undefined, ['--warc-gzip', 'gemini://h/'])).toBe(
      "gemfetch: unknown option (--warc-gzip): gemfetch has no such option. Try 'gemfetch --help'.",
    );
    expect(usage('--known-hosts needs a file name')).toBe("gemfetch: invalid value (--known-hosts): needs a file name. Try 'gemfetch --help'.");
    expect(usage('--output may be given only once (got 2 values: "a", "b")')).toBe(
      "gemfetch: repeated option (--output): may be given only once (got 2 values: \"a\", \"b\"). Try 'gemfetch --help'.",
    );
    expect(usage('invalid --proxy "a b": expected HOST or HOST:PORT')).toBe("gemfetch: invalid value (--proxy \"a b\"): expected HOST or HOST:PORT. Try 'gemfetch --help'.");
    expect(usage('batch needs at least one URL (arguments, -f FILE or stdin)', 'batch')).toBe(
      "gemfetch: missing argument (batch): needs at least one URL (arguments, -f FILE or stdin). Try 'gemfetch batch --help'.",
    );
    // Messages of other shapes are left as they were.
    expect(usage('--max-time: invalid duration')).toBe("gemfetch: invalid value (--max-time): invalid duration. Try 'gemfetch --help'.");
  });
});
