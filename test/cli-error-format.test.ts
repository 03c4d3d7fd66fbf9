/**
 * Every error path of put, id and tofu prints one line in the one message
 * format of issue 11, `gemfetch: <what> (<which>): <why>. <hint>`, and no
 * stack trace (found by review: many said `gemfetch: --size needs ...` or
 * `gemfetch: /nope: cannot read the file (ENOENT)` without the part in
 * parentheses; `put gemini://...` said "invalid gemini URL" with a gemini://
 * example). Nothing here reaches a network: every case fails before
 * connecting, or connects to a closed port of 127.0.0.1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, runCli, scratchDirs } from './support/cli.js';

const scratch = scratchDirs();
const FORMAT = /^gemfetch: [^\n]+? \([^\n]+?\): [^\n]+$/;

let home: string;
let dir: string;
beforeAll(() => {
  requireBuild();
  home = scratch('gemfetch-fmt-home-');
  dir = scratch('gemfetch-fmt-files-');
  fs.writeFileSync(path.join(dir, 'page.gmi'), '# hi\n');
  fs.writeFileSync(path.join(dir, 'not.pem'), 'hello\n');
  fs.writeFileSync(path.join(dir, 'bin.dat'), Buffer.from([0xff, 0xfe, 0x00, 0x62]));
});

const T = 'titan://127.0.0.1:1/x';
const cases: Array<[string, () => string[], RegExp, string?]> = [
  ['put without FILE', () => ['put', T], /^gemfetch: missing arguments \(put\): put needs a titan:\/\/ URL/],
  ['put extra argument', () => ['put', T, path.join(dir, 'page.gmi'), 'extra'], /^gemfetch: unexpected argument \(put\): .*"extra"/],
  ['put missing file', () => ['put', T, path.join(dir, 'nope')], /^gemfetch: cannot read the file \(.*nope\): ENOENT/],
  ['put a directory', () => ['put', T, dir], /^gemfetch: not a regular file \(.*\): give - to upload stdin/],
  ['put --size mismatch', () => ['put', '--size', '3', T, path.join(dir, 'page.gmi')], /^gemfetch: size mismatch \(--size\): --size 3 does not match/],
  ['put --size not a number', () => ['put', '--size', '1k', T, '-'], /^gemfetch: invalid size \(--size\): /],
  ['put --mime', () => ['put', '--mime', 'nope', T, path.join(dir, 'page.gmi')], /^gemfetch: invalid MIME type \(--mime\): /],
  ['put --token ""', () => ['put', '--token', '', T, path.join(dir, 'page.gmi')], /^gemfetch: [^(]+ \(--token\): /],
  ['put --input', () => ['put', '--input', 'x', T, path.join(dir, 'page.gmi')], /^gemfetch: not with put \(--input\): /],
  ['put to a gemini:// URL', () => ['put', 'gemini://127.0.0.1:1/x', path.join(dir, 'page.gmi')], /^gemfetch: invalid titan URL \(gemini:\/\/127\.0\.0\.1:1\/x\): not a titan URL \(scheme gemini:\)\. An upload goes to titan:\/\/host\/path\.$/],
  ['fetch a titan:// URL', () => [T], /^gemfetch: invalid gemini URL \(titan:\/\/127\.0\.0\.1:1\/x\): .*To upload, use: gemfetch put titan:\/\/127\.0\.0\.1:1\/x FILE$/],
  ['id alone', () => ['id'], /^gemfetch: missing action \(gemfetch id\): /],
  ['id unknown action', () => ['id', 'frob'], /^gemfetch: unknown action \(id frob\): /],
  ['id bad name', () => ['id', 'create', 'a b'], /^gemfetch: invalid identity name \("a b"\): /],
  ['id bad scope', () => ['id', 'create', 'x', '--scope', 'https://e.org/'], /^gemfetch: invalid scope \("https:\/\/e\.org\/"\): /],
  ['id bad --cn', () => ['id', 'create', 'x', '--cn', ''], /^gemfetch: invalid value \(id create\): common name/],
  ['id bad --days', () => ['id', 'create', 'x', '--days', 'soon'], /^gemfetch: invalid value \(--days\): /],
  ['id use without --scope', () => ['id', 'use', 'x'], /^gemfetch: [^(]+ \((--scope|x)\): /],
  ['id export unknown', () => ['id', 'export', 'ghost'], /^gemfetch: no such identity \(ghost\): /],
  ['id import without key', () => ['id', 'import', 'x', path.join(dir, 'not.pem')], /^gemfetch: cannot import \(.*not\.pem\): it holds no private key/],
  ['id list extra operand', () => ['id', 'list', 'extra'], /^gemfetch: wrong operands \(id list\): /],
  ['id --days with list', () => ['id', 'list', '--days', '3'], /^gemfetch: not with this action \(--days\): /],
  ['--input-file missing', () => ['--input-file', path.join(dir, 'nope'), 'gemini://127.0.0.1:1/'], /^gemfetch: cannot read the file \(--input-file .*nope\): ENOENT/],
  ['--input-file a directory', () => ['--input-file', dir, 'gemini://127.0.0.1:1/'], /^gemfetch: cannot read the file \(--input-file .*\): EISDIR/],
  ['--input-file - over 4 KiB', () => ['--input-file', '-', 'gemini://127.0.0.1:1/'], /^gemfetch: invalid value \(--input-file -\): standard input holds more than 4096 bytes/, 'a'.repeat(5000)],
  ['--input-file binary', () => ['--input-file', path.join(dir, 'bin.dat'), 'gemini://127.0.0.1:1/'], /^gemfetch: invalid value \(--input-file .*bin\.dat\): the file is not UTF-8 text/],
  ['-4 and -6', () => ['-4', '-6', 'gemini://127.0.0.1:1/'], /^gemfetch: conflicting options \(-4, -6\): they cannot be used together\./],
  ['--key without --cert', () => ['--key', path.join(dir, 'not.pem'), 'gemini://127.0.0.1:1/'], /^gemfetch: missing option \(--cert\): --key needs --cert\./],
  ['--id ""', () => ['--id', '', 'gemini://127.0.0.1:1/'], /^gemfetch: invalid value \(--id\): needs an identity name/],
  ['--id and --no-id', () => ['--id', 'a', '--no-id', 'gemini://127.0.0.1:1/'], /^gemfetch: conflicting options \(--id, --no-id\): /],
  ['--id twice', () => ['--id', 'a', '--id', 'b', 'gemini://127.0.0.1:1/'], /^gemfetch: repeated option \(--id\): may be given only once/],
  ['--known-hosts ""', () => ['--known-hosts', '', 'gemini://127.0.0.1:1/'], /^gemfetch: invalid value \(--known-hosts\): needs a file name/],
  ['--max-redirects -1', () => ['--max-redirects', '-1', 'gemini://127.0.0.1:1/'], /^gemfetch: invalid value \(--max-redirects\): needs a whole number/],
  ['--proxy with a space', () => ['--proxy', 'a b', 'gemini://127.0.0.1:1/'], /^gemfetch: invalid value \(--proxy "a b"\): expected HOST or HOST:PORT/],
  ['batch without input', () => ['batch'], /^gemfetch: missing argument \(batch\): needs at least one URL/],
  ['crawl without seed', () => ['crawl'], /^gemfetch: missing argument \(crawl\): needs at least one seed URL/],
  ['survey without host', () => ['survey'], /^gemfetch: missing argument \(survey\): needs at least one host/],
  ['fetch --warc-gzip (a crawl option)', () => ['--warc-gzip', 'gemini://127.0.0.1:1/'], /^gemfetch: unknown option \(--warc-gzip\): gemfetch has no such option\./],
  ['tofu alone', () => ['tofu'], /^gemfetch: missing action \(gemfetch tofu\): /],
  ['tofu unknown action', () => ['tofu', 'frob'], /^gemfetch: invalid value \(tofu action\): /], // yargs' choices, already in the format
  ['tofu pin without fingerprint', () => ['tofu', 'pin', 'example.org'], /^gemfetch: missing argument \(tofu pin\): /],
  ['tofu pin bad fingerprint', () => ['tofu', 'pin', 'example.org', 'zz'], /^gemfetch: invalid fingerprint \(tofu pin\): "zz" is not/],
  ['tofu trust without host', () => ['tofu', 'trust'], /^gemfetch: missing argument \(tofu trust\): /],
  ['tofu trust bad port', () => ['tofu', 'trust', 'example.org:0'], /^gemfetch: invalid host \(example\.org:0\): /],
  ['tofu forget bad host', () => ['tofu', 'forget', 'exa mple'], /^gemfetch: invalid host \(exa mple\): /],
];

describe.concurrent('one line in the message format, exit 2', { timeout: 120_000 }, () => {
  it.each(cases)('%s', async (_name, args, expected, stdin) => {
    const r = await runCli(home, args(), { timeoutMs: 30_000, ...(stdin !== undefined ? { stdin } : {}) });
    const stderr = r.stderr.toString();
    expect(r.code, stderr).toBe(2);
    const lines = stderr.trimEnd().split('\n');
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(FORMAT);
    expect(lines[0]).toMatch(expected);
    expect(stderr).not.toMatch(/internal error|\n\s+at /);
  });
});
