import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawl, StorageError, type CrawlOptions, type CrawlRecord } from '../src/bulk/crawl.js';
import type { Termination } from '../src/net/response.js';
import { sha1Base32, truncationOf, WarcWriter } from '../src/files/warc.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';

interface WarcRecord {
  version: string;
  fields: Map<string, string>;
  block: Buffer;
}

/** A minimal WARC reader: strict about the framing, so a malformed file throws. */
function readWarc(bytes: Buffer): WarcRecord[] {
  const records: WarcRecord[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const headEnd = bytes.indexOf('\r\n\r\n', offset);
    if (headEnd < 0) throw new Error(`no header end at ${offset}`);
    const lines = bytes.subarray(offset, headEnd).toString('utf8').split('\r\n');
    const version = lines.shift()!;
    if (version !== 'WARC/1.1') throw new Error(`bad version line ${JSON.stringify(version)} at ${offset}`);
    const fields = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`bad field line ${JSON.stringify(line)}`);
      fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    const length = Number(fields.get('Content-Length'));
    if (!Number.isInteger(length)) throw new Error('no Content-Length');
    const blockStart = headEnd + 4;
    const block = bytes.subarray(blockStart, blockStart + length);
    if (bytes.subarray(blockStart + length, blockStart + length + 4).toString() !== '\r\n\r\n') throw new Error('record not followed by CRLF CRLF');
    records.push({ version, fields, block });
    offset = blockStart + length + 4;
  }
  return records;
}

describe('WARC output of a crawl', () => {
  let space: Geminispace;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-warc-'));
    space = await startGeminispace([
      {
        name: 'w',
        pages: {
          '/': { body: '# Home\n=> big\n=> cut\n=> stall\n=> gone\n=> bin\n' },
          '/big': { header: '20 text/plain', body: 'x'.repeat(5000) },
          '/cut': { body: 'half a page', ending: 'fin' },
          '/stall': { header: '20 text/plain', body: 'never ends', ending: 'none' },
          '/bin': { header: '20 application/octet-stream', body: Buffer.from([0, 1, 2, 255, 13, 10]) },
        },
      },
    ]);
  });
  afterAll(async () => {
    await space?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes warcinfo, then a request and a response record per response, each response block the raw header and body', async () => {
    const file = path.join(dir, 'crawl.warc');
    const records: CrawlRecord[] = [];
    const options = { delay: 5, warcFile: file, requestOptions: { trust: 'insecure' as const, maxBytes: 1000, idleTimeout: 150, totalTimeout: 1500 } };
    for await (const r of crawl([space.get('w').url('/')], options)) records.push(r);
    expect(records).toHaveLength(6);
    const warc = readWarc(fs.readFileSync(file));
    expect(warc[0]!.fields.get('WARC-Type')).toBe('warcinfo');
    expect(warc[0]!.block.toString()).toContain('format: WARC File Format 1.1');
    const responses = warc.filter((w) => w.fields.get('WARC-Type') === 'response');
    // robots.txt (51 here) is archived too
    expect(responses).toHaveLength(records.filter((r) => r.status !== null).length + 1);
    expect(warc.filter((w) => w.fields.get('WARC-Type') === 'request')).toHaveLength(responses.length);
    const ids = new Set(warc.map((w) => w.fields.get('WARC-Record-ID')));
    expect(ids.size).toBe(warc.length);
    for (const w of responses) {
      const record = records.find((r) => r.url === w.fields.get('WARC-Target-URI'));
      if (!record) {
        expect(w.fields.get('WARC-Target-URI')).toBe(space.get('w').url('/robots.txt?gemfetch'));
        continue;
      }
      expect(w.fields.get('WARC-Record-ID')).toMatch(/^<urn:uuid:[0-9a-f-]{36}>$/);
      expect(w.fields.get('WARC-Date')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(w.fields.get('WARC-Warcinfo-ID')).toBe(warc[0]!.fields.get('WARC-Record-ID'));
      expect(w.fields.get('WARC-Block-Digest')).toBe(sha1Base32(w.block));
      expect(w.fields.get('WARC-Payload-Digest')).toBe(sha1Base32(w.block));
      const header = `${record.status} ${record.meta}\r\n`;
      expect(w.block.subarray(0, header.length).toString()).toBe(header);
      const payload = w.block.subarray(Buffer.byteLength(header));
      expect(payload.length).toBe(record.bytes);
      expect(createHash('sha256').update(payload).digest('hex')).toBe(record.sha256);
      expect(w.fields.get('WARC-Gemini-Complete')).toBe(String(record.complete));
      expect(w.fields.get('WARC-Gemini-Termination')).toBe(record.termination);
      expect(w.fields.get('WARC-Truncated')).toBe(truncationOf(record.termination!));
    }
    const truncation = (p: string): string | undefined => responses.find((w) => w.fields.get('WARC-Target-URI') === space.get('w').url(p))?.fields.get('WARC-Truncated');
    expect(truncation('/big')).toBe('length');
    expect(truncation('/stall')).toBe('time');
    expect(truncation('/cut')).toBe('disconnect'); // cut by the server
    expect(truncation('/bin')).toBeUndefined();
  });

  it('appends to an existing file with a new warcinfo', () => {
    const file = path.join(dir, 'append.warc');
    for (let i = 0; i < 2; i++) {
      const writer = new WarcWriter(file);
      writer.writeExchange({ targetUri: 'gemini://h/', date: new Date(), rawHeader: Buffer.from('51 Not found\r\n'), body: Buffer.alloc(0), complete: true, termination: 'close_notify' });
      writer.close();
    }
    const warc = readWarc(fs.readFileSync(file));
    expect(warc.map((w) => w.fields.get('WARC-Type'))).toEqual(['warcinfo', 'request', 'response', 'warcinfo', 'request', 'response']);
    expect(warc[2]!.block.toString()).toBe('51 Not found\r\n');
    expect(warc[1]!.block.toString()).toBe('gemini://h/\r\n');
  });

  it('maps every termination to its WARC-Truncated value', () => {
    expect(['close_notify', 'size_limit', 'timeout', 'tcp_fin', 'tcp_reset', 'tls_error', 'aborted'].map((t) => truncationOf(t as Termination))).toEqual([
      undefined,
      'length',
      'time',
      'disconnect',
      'disconnect',
      'disconnect',
      'unspecified',
    ]);
  });

  /** Runs a crawl to its end; resolves with the records and the error it rejected with, if any. */
  async function outcome(iterator: AsyncIterator<CrawlRecord>): Promise<{ records: CrawlRecord[]; error: unknown }> {
    const records: CrawlRecord[] = [];
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) records.push(next.value);
    } catch (error) {
      return { records, error };
    }
    return { records, error: undefined };
  }
  const options = (warcFile: string): CrawlOptions => ({ delay: 0, warcFile, requestOptions: { trust: 'insecure', idleTimeout: 150, totalTimeout: 1500 } });

  it('a WARC path that cannot be opened makes the crawl reject at once with a StorageError naming it', async () => {
    const before = space.get('w').log.length;
    const { records, error } = await outcome(crawl([space.get('w').url('/')], options(dir))[Symbol.asyncIterator]());
    expect(records).toEqual([]);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).message).toContain(dir);
    expect((error as StorageError).syscallCode).toBe('EISDIR');
    expect(space.get('w').log.length).toBe(before); // nothing requested
  });

  it.skipIf(!fs.existsSync('/dev/full'))('a WARC file on a full disk makes the crawl reject with ENOSPC', async () => {
    const { error } = await outcome(crawl([space.get('w').url('/')], options('/dev/full'))[Symbol.asyncIterator]());
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).syscallCode).toBe('ENOSPC');
    expect((error as StorageError).message).toContain('/dev/full');
  });

  it('a WARC write failing mid-crawl (reader of a FIFO gone: EPIPE) makes the crawl reject, not hang', async () => {
    const fifo = path.join(dir, 'gone.warc');
    execFileSync('mkfifo', [fifo]);
    // a reader must be there when the writer opens the FIFO, else the open blocks
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const iterator = crawl([space.get('w').url('/')], options(fifo))[Symbol.asyncIterator]();
    const result = outcome(iterator);
    const chunk = Buffer.alloc(65536);
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(reader, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      if (n > 0) break; // the warcinfo record is in: the writer has the FIFO open
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    fs.closeSync(reader);
    const { error } = await result;
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).syscallCode).toBe('EPIPE');
    expect((error as StorageError).message).toContain(fifo);
  });

  it.skipIf(!fs.existsSync(path.resolve(__dirname, '../dist/cli/commands/crawl.js')))('`gemfetch crawl --warc` with an unwritable path: exit code 1 and a message naming the file', async () => {
    const child = spawn(process.execPath, [path.resolve(__dirname, '../bin/gemfetch.js'), 'crawl', '-k', '-q', '--delay', '0', '--warc', dir, space.get('w').url('/')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(`gemfetch crawl: cannot open the WARC file ${dir}: EISDIR`);
    expect(stderr).not.toContain('internal error');
  });

  const cli = path.resolve(__dirname, '../bin/gemfetch.js');
  const built = fs.existsSync(path.resolve(__dirname, '../dist/cli/commands/crawl.js'));
  /** Runs the CLI to its exit; resolves with the exit code and stderr. */
  const runCli = async (args: string[]): Promise<{ code: unknown; stderr: string }> => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    return { code, stderr };
  };

  it.skipIf(!built)('`gemfetch crawl --warc FILE --warc-gzip` writes gzip members; --warc-gzip alone is a usage error', async () => {
    const file = path.join(dir, 'cli.warc');
    const { code } = await runCli(['crawl', '-k', '-q', '--delay', '0', '--max-pages', '1', '--warc', file, '--warc-gzip', space.get('w').url('/')]);
    expect(code).toBe(0);
    const bytes = fs.readFileSync(file);
    expect([...bytes.subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    const text = zlib.gunzipSync(bytes).toString('latin1');
    expect(text.startsWith('WARC/1.1\r\nWARC-Type: warcinfo\r\n')).toBe(true);
    expect(text).toContain('WARC-Type: response');
    const usage = await runCli(['crawl', '--warc-gzip', space.get('w').url('/')]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--warc-gzip needs --warc FILE');
  });

  it('encodes sha1 digests in base32', () => {
    expect(sha1Base32(Buffer.from(''))).toBe('sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ');
  });
});
