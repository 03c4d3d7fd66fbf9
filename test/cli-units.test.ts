import { IdentityStore } from '../src/trust/identity-store.js';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FetchRecord } from '../src/net/record.js';
import { combineExitCodes, EXIT_CODE_TABLE, ExitCode, exitCodeForRecord } from '../src/cli/exit-codes.js';
import { jsonLine } from '../src/cli/commands/fetch.js';
import { parseProxy, requestOptionsFromArgs } from '../src/cli/fetch-options.js';
import { describeTermination, plain, statusLabel } from '../src/cli/messages.js';
import { fileNameFromUrl, OutputFile, resolveInside } from '../src/cli/output-file.js';
import { ProgressLine } from '../src/cli/progress.js';
import { createStreamDecoder } from '../src/protocol/charset.js';
import { TerminalBodyWriter } from '../src/cli/terminal-output.js';
import { formatBytes, formatDuration, formatSizeOption, parseDuration, parseSize } from '../src/cli/units.js';
import { UsageError } from '../src/cli/usage-error.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { scratchDirs } from './support/cli.js';

const scratch = scratchDirs();

describe('units', () => {
  it('parses sizes with binary suffixes, plain numbers as bytes', () => {
    expect(parseSize('10M')).toBe(10 * 1024 * 1024);
    expect(parseSize('500k')).toBe(500 * 1024);
    expect(parseSize('1G')).toBe(1024 ** 3);
    expect(parseSize('1.5K')).toBe(1536);
    expect(parseSize('123')).toBe(123);
    expect(parseSize('2MiB')).toBe(2 * 1024 * 1024);
    expect(parseSize('0')).toBe(0);
  });

  it('rejects malformed sizes with a message naming the value', () => {
    for (const bad of ['', 'M', '-1', '10X', '1e3', 'ten']) {
      expect(() => parseSize(bad)).toThrow(UsageError);
    }
    expect(() => parseSize('10X')).toThrow(/"10X"/);
  });

  it('parses durations, plain numbers as seconds', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5')).toBe(1500);
    expect(parseDuration('1h')).toBe(3_600_000);
    for (const bad of ['', 's', '-3s', '3 days', 'soon']) expect(() => parseDuration(bad)).toThrow(UsageError);
  });

  it('formats bytes and durations for humans', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(10 * 1024 * 1024)).toBe('10.0 MiB');
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(30_000)).toBe('30s');
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(125_000)).toBe('2m05s');
    expect(formatDuration(Infinity)).toBe('unlimited');
    expect(formatSizeOption(10 * 1024 * 1024)).toBe('10M');
    expect(formatSizeOption(1000)).toBe('1000');
  });
});

function record(fields: Partial<FetchRecord>): FetchRecord {
  return {
    url: 'gemini://h/',
    finalUrl: 'gemini://h/',
    status: 20,
    meta: 'text/gemini',
    mimeType: 'text/gemini',
    complete: true,
    termination: 'close_notify',
    bytes: 0,
    sha256: null,
    redirects: [],
    redirectNotFollowed: null,
    tls: null,
    identity: null,
    timings: null,
    timeout: null,
    error: null,
    ...fields,
  };
}

describe('exit codes', () => {
  it('maps statuses, completeness and errors to the documented codes', () => {
    expect(exitCodeForRecord(record({}))).toBe(0);
    expect(exitCodeForRecord(record({ complete: false, termination: 'tcp_fin' }))).toBe(3);
    expect(exitCodeForRecord(record({ complete: false, termination: 'tcp_fin' }), { allowIncomplete: true })).toBe(0);
    expect(exitCodeForRecord(record({ status: 10 }))).toBe(7);
    expect(exitCodeForRecord(record({ status: 31 }))).toBe(8);
    expect(exitCodeForRecord(record({ status: 44 }))).toBe(4);
    expect(exitCodeForRecord(record({ status: 59 }))).toBe(5);
    expect(exitCodeForRecord(record({ status: 62 }))).toBe(6);
    const error = (code: string): FetchRecord => record({ status: null, error: { code, message: 'x' } });
    expect(exitCodeForRecord(error('ERR_CONNECT'))).toBe(1);
    expect(exitCodeForRecord(error('ERR_TLS'))).toBe(1);
    expect(exitCodeForRecord(error('ERR_INVALID_URL'))).toBe(2);
    expect(exitCodeForRecord(error('ERR_REDIRECT_LOOP'))).toBe(8);
    expect(exitCodeForRecord(error('ERR_TOO_MANY_REDIRECTS'))).toBe(8);
    expect(exitCodeForRecord(error('ERR_CERT_MISMATCH'))).toBe(9);
  });

  it('combines by priority, not by number', () => {
    expect(combineExitCodes([])).toBe(0);
    expect(combineExitCodes([0, 3, 0])).toBe(3);
    expect(combineExitCodes([3, 5, 4])).toBe(5);
    expect(combineExitCodes([5, 1])).toBe(1);
    expect(combineExitCodes([1, 9, 2])).toBe(2);
    expect(combineExitCodes([7, 6])).toBe(6);
    expect(combineExitCodes([8, 7])).toBe(7);
    expect(combineExitCodes([9, 130])).toBe(130);
  });

  it('documents every code in the help table', () => {
    for (const code of Object.values(ExitCode)) expect(EXIT_CODE_TABLE).toMatch(new RegExp(`^ +${code} `, 'm'));
  });
});

describe('--json lines', () => {
  it('escape every control and bidi character but stay equal JSON', () => {
    const rec = record({ meta: 'text/gemini\u009b2J\x1b[31m\u202eevil\x7f' });
    const line = jsonLine(rec);
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e]/);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(rec);
  });
});

describe('-O file names and the output directory', () => {
  it('takes the last path segment, percent-decoded', () => {
    expect(fileNameFromUrl('gemini://h/docs/file.txt')).toBe('file.txt');
    expect(fileNameFromUrl('gemini://h/a/caf%C3%A9.gmi?x=1')).toBe('café.gmi');
    expect(fileNameFromUrl('gemini://h:1965/', 'text/gemini')).toBe('index.gmi');
    expect(fileNameFromUrl('gemini://h/dir/', 'text/plain')).toBe('index.txt');
    expect(fileNameFromUrl('gemini://h', 'image/png')).toBe('index.png');
    expect(fileNameFromUrl('gemini://h/x/', 'application/x-unknown')).toBe('index');
  });

  it('never yields a path: no separators, NUL, dot names or dotfiles', () => {
    const cases = ['..', '%2e%2e', '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd', '..%2f..%2fevil', '..%5c..%5cevil', '%2fetc%2fpasswd', 'a%00b', '.bashrc', '%2ebashrc', '...', 'x%0d%0ay', '%1b%5b2J'];
    for (const segment of cases) {
      const name = fileNameFromUrl(`gemini://h/dir/${segment}`, 'text/gemini');
      expect(name, segment).not.toMatch(/[/\\\u0000-\u001f]/);
      expect(name, segment).not.toMatch(/^\./);
      expect(name.length, segment).toBeGreaterThan(0);
      expect(path.basename(name), segment).toBe(name);
    }
    expect(fileNameFromUrl('gemini://h/%2e%2e', 'text/gemini')).toBe('index.gmi');
  });

  it('makes names visible and shell-safe: no leading -, . or ~, no control, format, bidi or odd space characters, no .partial ending', () => {
    const cases: Array<[string, string]> = [
      ['-rf', '_rf'],
      ['--help', '_help'],
      ['~root', '_root'],
      ['.-x', '_x'],
      ['a%E2%80%AEcod.exe', 'a_cod.exe'], // RIGHT-TO-LEFT OVERRIDE
      ['a%E2%81%A6b%E2%81%A9', 'a_b_'], // isolates
      ['zero%E2%80%8Bwidth', 'zero_width'],
      ['soft%C2%ADhyphen', 'soft_hyphen'],
      ['no%C2%A0break', 'no_break'],
      ['line%E2%80%A8sep', 'line_sep'],
      ['%C2%9Bcsi', '_csi'], // C1 control
      ['%EE%80%80private', '_private'],
      ['x.gmi.partial', 'x.gmi_partial'],
      ['two%20words.gmi', 'two words.gmi'], // an ordinary space is kept
      ['caf%C3%A9-x.gmi', 'café-x.gmi'], // a - inside a name is kept
    ];
    for (const [segment, expected] of cases) expect(fileNameFromUrl(`gemini://h/${segment}`), segment).toBe(expected);
  });

  it('caps long names', () => {
    expect(Buffer.byteLength(fileNameFromUrl(`gemini://h/${'é'.repeat(300)}`))).toBeLessThanOrEqual(200);
  });

  it('refuses to resolve outside the directory', () => {
    const dir = scratch();
    expect(resolveInside(dir, 'a.txt')).toBe(path.join(dir, 'a.txt'));
    for (const bad of ['../x', '/etc/passwd', '..', '.', '', 'a/../../x']) {
      expect(() => resolveInside(dir, bad), bad).toThrow(UsageError);
    }
  });

  it('writes NAME.partial and renames only when complete', async () => {
    const dir = scratch();
    const done = await OutputFile.open(path.join(dir, 'ok.txt'));
    await done.write(Buffer.from('hello'));
    expect(fs.existsSync(path.join(dir, 'ok.txt.partial'))).toBe(true);
    expect(await done.finish(true)).toEqual({ path: path.join(dir, 'ok.txt'), partial: false, bytes: 5 });
    expect(fs.readFileSync(path.join(dir, 'ok.txt'), 'utf8')).toBe('hello');
    expect(fs.existsSync(path.join(dir, 'ok.txt.partial'))).toBe(false);

    const cut = await OutputFile.open(path.join(dir, 'cut.txt'));
    await cut.write(Buffer.from('hel'));
    expect((await cut.finish(false)).partial).toBe(true);
    expect(fs.existsSync(path.join(dir, 'cut.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'cut.txt.partial'), 'utf8')).toBe('hel');
  });

  it('does not follow a symbolic link planted at NAME.partial', async () => {
    const dir = scratch();
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'keep');
    fs.symlinkSync(victim, path.join(dir, 'x.partial'));
    await expect(OutputFile.open(path.join(dir, 'x'))).rejects.toThrow();
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep');
  });
});

describe('fetch options', () => {
  it('converts values to request options', async () => {
    const options = await requestOptionsFromArgs({
      maxSize: '10M',
      maxTime: '2m',
      connectTimeout: '5s',
      idleTimeout: '500ms',
      headerTimeout: '1',
      tofu: 'ca',
      knownHosts: '/tmp/kh',
      ipv4: true,
      proxy: '[::1]:1966',
      maxRedirects: 0,
      input: 'x y',
    });
    expect(options).toMatchObject({
      maxBytes: 10 * 1024 * 1024,
      totalTimeout: 120_000,
      connectTimeout: 5000,
      handshakeTimeout: 5000,
      idleTimeout: 500,
      headerTimeout: 1000,
      trust: 'ca',
      knownHosts: '/tmp/kh',
      family: 4,
      proxy: { host: '::1', port: 1966 },
      maxRedirects: 0,
      input: 'x y',
    });
    expect((await requestOptionsFromArgs({ insecure: true, tofu: 'tofu' })).trust).toBe('insecure');
    // identities: the user's store (scoped identities), unless --no-id (false) or --id NAME.
    expect(await requestOptionsFromArgs({ maxSize: '0', maxTime: '0' })).toEqual({ totalTimeout: Infinity, identities: expect.any(IdentityStore) });
    expect((await requestOptionsFromArgs({ id: false })).identities).toBe(false);
  });

  it('rejects bad values with clear messages', async () => {
    await expect(requestOptionsFromArgs({ maxSize: 'lots' })).rejects.toThrow(/invalid size \(--max-size\): "lots"/);
    await expect(requestOptionsFromArgs({ idleTimeout: 'x' })).rejects.toThrow('invalid duration (--idle-timeout): "x" is not a number of seconds');
    await expect(requestOptionsFromArgs({ maxRedirects: Number.NaN })).rejects.toThrow(/--max-redirects/);
    await expect(requestOptionsFromArgs({ maxRedirects: -1 })).rejects.toThrow(UsageError);
    await expect(requestOptionsFromArgs({ ipv4: true, ipv6: true })).rejects.toThrow(/-4 and -6/);
    await expect(requestOptionsFromArgs({ key: 'k.pem' })).rejects.toThrow(/--key needs --cert/);
    await expect(requestOptionsFromArgs({ cert: '/nonexistent/c.pem', key: '/nonexistent/k.pem' })).rejects.toThrow(/--cert \/nonexistent\/c.pem: cannot read/);
    await expect(requestOptionsFromArgs({ ca: ['/nonexistent/ca.pem'] })).rejects.toThrow(/--ca/);
  });

  it('reads certificate files and checks that key and certificate match', async () => {
    const dir = scratch();
    const a = createCertificate({ commonName: 'a' });
    const b = createCertificate({ commonName: 'b' });
    fs.writeFileSync(path.join(dir, 'a.crt'), a.cert);
    fs.writeFileSync(path.join(dir, 'a.key'), a.key);
    fs.writeFileSync(path.join(dir, 'b.key'), b.key);
    fs.writeFileSync(path.join(dir, 'both.pem'), a.cert + a.key);
    fs.writeFileSync(path.join(dir, 'junk.pem'), 'hello');
    const ok = await requestOptionsFromArgs({ cert: path.join(dir, 'a.crt'), key: path.join(dir, 'a.key') });
    expect(ok.cert).toBe(a.cert);
    expect(ok.key).toBe(a.key);
    expect((await requestOptionsFromArgs({ cert: path.join(dir, 'both.pem') })).key).toContain('PRIVATE KEY');
    await expect(requestOptionsFromArgs({ cert: path.join(dir, 'a.crt') })).rejects.toThrow(/holds no private key/);
    await expect(requestOptionsFromArgs({ cert: path.join(dir, 'a.crt'), key: path.join(dir, 'b.key') })).rejects.toThrow(/cannot use this certificate and key/);
    await expect(requestOptionsFromArgs({ cert: path.join(dir, 'junk.pem'), key: path.join(dir, 'a.key') })).rejects.toThrow(/not a PEM file/);
  });

  it('parses proxies', () => {
    expect(parseProxy('proxy.example')).toEqual({ host: 'proxy.example' });
    expect(parseProxy('proxy.example:1966')).toEqual({ host: 'proxy.example', port: 1966 });
    expect(parseProxy('[::1]:1965')).toEqual({ host: '::1', port: 1965 });
    expect(parseProxy('::1')).toEqual({ host: '::1' });
    for (const bad of ['', 'a:b', 'h:0', 'h:70000', 'gemini://h/']) expect(() => parseProxy(bad), bad).toThrow(UsageError);
  });
});

describe('messages', () => {
  it('names the reason of an incomplete response', () => {
    expect(describeTermination({ termination: 'tcp_fin' })).toBe('no TLS close_notify: the server closed TCP (possible truncation)');
    expect(describeTermination({ termination: 'size_limit' }, { maxBytes: 10 * 1024 * 1024 })).toBe('stopped at --max-size 10M');
    expect(describeTermination({ termination: 'timeout', timeout: 'idle' }, { idleTimeout: 30_000 })).toMatch(/^idle timeout 30s/);
    expect(describeTermination({ termination: 'timeout', timeout: 'total' }, { totalTimeout: 120_000 })).toBe('stopped at --max-time 2m00s');
    expect(describeTermination({ termination: 'tcp_reset' })).toMatch(/connection reset/);
    expect(describeTermination({ termination: 'tls_error', error: Object.assign(new Error('0A000119:SSL routines:...'), { reason: 'bad record mac' }) })).toBe(
      'TLS error: the server sent a corrupted TLS record (bad record mac)',
    );
    expect(describeTermination({ termination: 'tls_error', error: new Error('odd failure') })).toBe('TLS error: the server broke off TLS (odd failure)');
  });

  it('labels statuses and neutralises control characters', () => {
    expect(statusLabel(51)).toBe('51 not found');
    expect(statusLabel(29)).toBe('29 success');
    expect(plain('a\x1b]0;title\x07b\u009b2J\u202ec')).toBe('a?]0;title?b?2J?c');
  });
});

describe('terminal output helpers', () => {
  it('decodes charsets incrementally, across chunk boundaries', () => {
    const utf8 = createStreamDecoder(undefined);
    const bytes = Buffer.from('café ✓');
    expect(utf8.write(bytes.subarray(0, 4)) + utf8.write(bytes.subarray(4)) + utf8.end()).toBe('café ✓');
    const latin1 = createStreamDecoder('ISO-8859-1');
    expect(latin1.write(Buffer.from([0x63, 0x61, 0x66, 0xe9])) + latin1.end()).toBe('café');
    const utf16 = createStreamDecoder('utf-16le');
    expect(utf16.write(Buffer.from('\ufeffhé', 'utf16le')) + utf16.end()).toBe('hé');
    const unknown = createStreamDecoder('x-klingon');
    expect(unknown.known).toBe(false);
    expect(unknown.write(Buffer.from('ok')) + unknown.end()).toBe('ok');
  });

  it('never lets escape sequences through, rendered or plain', () => {
    const evil = '# Title\x1b]0;pwned\x07\n\x1b[2Jclear\u009b31m\n=> gemini://x/ link\x1b[5m\n';
    for (const gemtext of [true, false]) {
      const writer = new TerminalBodyWriter({ charset: undefined, gemtext, width: 40, color: false });
      const out = writer.write(Buffer.from(evil)) + writer.end();
      expect(out).not.toMatch(/[\x1b\x07\u009b]/);
      expect(out).toContain('clear');
    }
  });

  it('draws the progress line only after the delay and clears it', () => {
    let written = '';
    let now = 0;
    const progress = new ProgressLine({ write: (t: string) => (written += t), columns: 80 }, 'gemini://h/', { delayMs: 500, intervalMs: 100, now: () => now });
    progress.add(1000);
    expect(written).toBe('');
    now = 1000;
    progress.add(1048);
    expect(written).toMatch(/^\r\x1b\[Kgemini:\/\/h\/ {2}2.00 KiB {2}2.00 KiB\/s {2}1s$/);
    progress.clear();
    expect(written.endsWith('\r\x1b[K')).toBe(true);
  });
});
