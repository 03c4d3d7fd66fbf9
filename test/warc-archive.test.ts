/**
 * The WARC files of a crawl, read back by an independent reader (warcio, the
 * Webrecorder library) and checked against the bytes the servers sent:
 * record types, URIs, lengths, both digests (computed here), the request /
 * response pairing, truncation marks, IP/TLS fields, the certificate record,
 * and, for `.warc.gz`, that each gzip member holds exactly one record.
 */
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { WARCParser } from 'warcio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { crawl, type CrawlRecord } from '../src/bulk/crawl.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { WarcWriter, type WarcExchange } from '../src/files/warc.js';
import { sendRaw, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { startGeminispace, type Geminispace } from './support/geminispace.js';

interface ReadRecord {
  type: string;
  headers: Map<string, string>;
  block: Buffer;
}

/** Every record of a WARC file (plain or gzipped) as warcio reads it, block bytes included. */
async function readWithWarcio(file: string): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  // parseHttp: false, as Python warcio does for a block that is not application/http: the whole block is the payload
  const parser = new WARCParser(fs.createReadStream(file), { parseHttp: false, keepHeadersCase: true });
  for await (const record of parser) {
    const block = Buffer.from(await record.readFully(false));
    const headers = new Map<string, string>();
    for (const [name, value] of record.warcHeaders.headers) headers.set(String(name), String(value));
    records.push({ type: record.warcType ?? '', headers, block });
  }
  return records;
}

/** RFC 4648 base32, written here so the test does not check the writer with its own code. */
function base32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bitString = '';
  for (const byte of bytes) bitString += byte.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bitString.length; i += 5) out += alphabet[parseInt(bitString.slice(i, i + 5).padEnd(5, '0'), 2)];
  return out;
}

/** The digest a WARC header names (`sha1:` / `sha256:` + base32), recomputed from `block`. */
function recompute(header: string, block: Buffer): string {
  const [algorithm] = header.split(':');
  const name = algorithm === 'sha1' ? 'sha1' : algorithm === 'sha256' ? 'sha256' : undefined;
  if (!name) throw new Error(`unexpected digest algorithm in ${header}`);
  return `${algorithm}:${base32(createHash(name).update(block).digest())}`;
}

/**
 * Splits a `.warc.gz` file into its gzip members by walking each deflate
 * stream (not the writer's length field): header, raw deflate data (zlib says
 * where it ends), 8-byte trailer.
 */
function gzipMembers(file: Buffer): Buffer[] {
  const members: Buffer[] = [];
  let offset = 0;
  while (offset < file.length) {
    expect(file.subarray(offset, offset + 3)).toEqual(Buffer.from([0x1f, 0x8b, 8]));
    const flags = file[offset + 3]!;
    let data = offset + 10;
    if (flags & 4) data += 2 + file.readUInt16LE(data);
    expect(flags & ~4).toBe(0); // no name, comment or header CRC
    const inflated = zlib.inflateRawSync(file.subarray(data), { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    const end = data + inflated.engine.bytesWritten + 8;
    expect(file.readUInt32LE(end - 4)).toBe(inflated.buffer.length % 2 ** 32);
    members.push(file.subarray(offset, end));
    offset = end;
  }
  return members;
}

const wire = (header: string, body: string | Buffer): Buffer => Buffer.concat([Buffer.from(`${header}\r\n`), Buffer.from(body)]);

const PAGES = {
  '/': { body: '# Home\n=> params\n=> bare\n=> big\n=> cut\n=> reset\n=> stall\n=> bin\n=> gone\n' },
  '/params': { header: '20 text/gemini;charset=UTF-8', body: 'parameters written as the server wrote them' },
  '/bare': { header: '20', body: 'no META at all' },
  '/big': { header: '20 text/plain', body: 'x'.repeat(5000) },
  '/cut': { body: 'half a page', ending: 'fin' as const },
  '/reset': { header: '20 text/plain', body: 'reset page', ending: 'reset' as const },
  '/stall': { header: '20 text/plain', body: 'never ends', ending: 'none' as const },
  '/bin': { header: '20 application/octet-stream', body: Buffer.from([0, 1, 2, 255, 13, 10]) },
};
const ROBOTS = 'User-agent: *\nDisallow: /nothing-here\n';

describe.each([
  ['plain', 'crawl.warc', undefined],
  ['gzip by name', 'crawl.warc.gz', undefined],
  ['gzip by option', 'crawl-gz.warc', true],
] as const)('WARC of a crawl (%s), read by warcio', (_label, name, gzipOption) => {
  let space: Geminispace;
  let dir: string;
  let file: string;
  let crawled: CrawlRecord[];
  let records: ReadRecord[];
  const url = (p: string): string => space.get('w').url(p);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-warcio-'));
    space = await startGeminispace([{ name: 'w', robots: ROBOTS, pages: PAGES }]);
    file = path.join(dir, name);
    crawled = [];
    const options = {
      delay: 0,
      warcFile: file,
      ...(gzipOption !== undefined ? { warcGzip: gzipOption } : {}),
      requestOptions: { trust: 'insecure' as const, maxBytes: 1000, idleTimeout: 150, totalTimeout: 5000 },
    };
    for await (const r of crawl([url('/')], options)) crawled.push(r);
    records = await readWithWarcio(file);
  });
  afterAll(async () => {
    await space?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const responseOf = (p: string): ReadRecord => {
    const found = records.filter((r) => r.type === 'response' && r.headers.get('WARC-Target-URI') === url(p));
    expect(found, p).toHaveLength(1);
    return found[0]!;
  };

  it('has a warcinfo, then a request and a response per response received (robots.txt included)', () => {
    expect(crawled).toHaveLength(9);
    expect(records[0]!.type).toBe('warcinfo');
    const responses = records.filter((r) => r.type === 'response');
    const requests = records.filter((r) => r.type === 'request');
    expect(responses.map((r) => r.headers.get('WARC-Target-URI')).sort()).toEqual([...Object.keys(PAGES), '/gone', '/robots.txt?gemfetch'].map(url).sort());
    expect(requests).toHaveLength(responses.length);
    const ids = records.map((r) => r.headers.get('WARC-Record-ID'));
    expect(new Set(ids).size).toBe(records.length);
    for (const response of responses) {
      const id = response.headers.get('WARC-Record-ID');
      const request = requests.find((r) => r.headers.get('WARC-Concurrent-To') === id)!;
      expect(request, response.headers.get('WARC-Target-URI')).toBeDefined();
      expect(request.headers.get('WARC-Target-URI')).toBe(response.headers.get('WARC-Target-URI'));
      expect(request.headers.get('Content-Type')).toBe('application/gemini; msgtype=request');
      expect(request.block.toString()).toBe(`${response.headers.get('WARC-Target-URI')}\r\n`);
      expect(response.headers.get('Content-Type')).toBe('application/gemini; msgtype=response');
      expect(response.headers.get('WARC-Warcinfo-ID')).toBe(records[0]!.headers.get('WARC-Record-ID'));
      expect(response.headers.get('WARC-IP-Address')).toBe(space.get('w').host);
      expect(response.headers.get('WARC-Gemini-TLS-Protocol')).toMatch(/^TLSv1\.[23]$/);
      expect(response.headers.get('WARC-Gemini-TLS-Cipher')).toMatch(/^TLS_/);
      expect(response.headers.get('WARC-Gemini-Certificate-SPKI-SHA256')).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('every record: Content-Length is the block length, and both digests are right (payload = whole block, as warcio takes it)', () => {
    for (const record of records) {
      expect(Number(record.headers.get('Content-Length'))).toBe(record.block.length);
      const block = record.headers.get('WARC-Block-Digest');
      if (record.type !== 'warcinfo') expect(block, record.type).toBeDefined();
      if (block) expect(block).toBe(recompute(block, record.block));
      const payload = record.headers.get('WARC-Payload-Digest');
      if (record.type === 'response' || record.type === 'request') expect(payload).toBe(recompute(payload!, record.block));
    }
  });

  it('a response block is exactly the bytes the server sent (raw header included) when nothing cut it', () => {
    for (const p of ['/params', '/bare', '/bin'] as const) {
      expect(responseOf(p).block).toEqual(wire(PAGES[p].header, PAGES[p].body));
      expect(responseOf(p).headers.get('WARC-Truncated')).toBeUndefined();
      expect(responseOf(p).headers.get('WARC-Gemini-Complete')).toBe('true');
    }
    expect(responseOf('/gone').block.toString()).toBe('51 Not found\r\n');
    expect(responseOf('/robots.txt?gemfetch').block).toEqual(wire('20 text/plain', ROBOTS));
    // the body after the header is what the crawl record hashed
    for (const record of crawled.filter((r) => r.status !== null)) {
      const block = responseOf(new URL(record.url).pathname).block;
      const headerEnd = block.indexOf('\n') + 1;
      expect(createHash('sha256').update(block.subarray(headerEnd)).digest('hex'), record.url).toBe(record.sha256);
    }
  });

  it('marks cut bodies with WARC-Truncated: length (our limit), time (our timeout), disconnect (server cut)', () => {
    const marks = Object.fromEntries(['/big', '/stall', '/cut', '/reset'].map((p) => [p, [responseOf(p).headers.get('WARC-Truncated'), responseOf(p).headers.get('WARC-Gemini-Termination'), responseOf(p).headers.get('WARC-Gemini-Complete')]]));
    expect(marks).toEqual({
      '/big': ['length', 'size_limit', 'false'],
      '/stall': ['time', 'timeout', 'false'],
      '/cut': ['disconnect', 'tcp_fin', 'false'],
      // an RST may reach the client as a FIN first, depending on timing: either way the server cut it
      '/reset': ['disconnect', crawled.find((r) => r.url === url('/reset'))!.termination, 'false'],
    });
    expect(['tcp_reset', 'tcp_fin']).toContain(marks['/reset']![1]);
    expect(responseOf('/big').block).toEqual(wire('20 text/plain', 'x'.repeat(1000)));
  });

  it('writes the server certificate once per host, as a metadata record referring to a response', () => {
    const certificates = records.filter((r) => r.type === 'metadata');
    expect(certificates).toHaveLength(1);
    const [record] = certificates;
    expect(record!.headers.get('Content-Type')).toBe('application/pkix-cert');
    const referred = records.find((r) => r.headers.get('WARC-Record-ID') === record!.headers.get('WARC-Refers-To'));
    expect(referred?.type).toBe('response');
    const certificate = new X509Certificate(record!.block);
    expect(certificate.subject).toContain('CN=w');
    const spki = createHash('sha256').update(certificate.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    expect(spki).toBe(referred!.headers.get('WARC-Gemini-Certificate-SPKI-SHA256'));
  });

  it.runIf(name.endsWith('.gz') || gzipOption)('is one gzip member per record, each gunzipping on its own to one record', () => {
    const bytes = fs.readFileSync(file);
    const members = gzipMembers(bytes);
    expect(members).toHaveLength(records.length);
    members.forEach((member, i) => {
      const text = zlib.gunzipSync(member);
      expect(text.subarray(0, 10).toString()).toBe('WARC/1.1\r\n');
      expect(text.indexOf('WARC/1.1\r\n', 1)).toBe(-1);
      expect(text.toString('latin1')).toContain(`WARC-Record-ID: ${records[i]!.headers.get('WARC-Record-ID')}`);
    });
  });

  it.runIf(!name.endsWith('.gz') && !gzipOption)('is plain WARC', () => {
    expect(fs.readFileSync(file).subarray(0, 10).toString()).toBe('WARC/1.1\r\n');
  });
});

describe('WARC file reopened after a kill tore its last record', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-warc-torn-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const exchange = (n: number): WarcExchange => ({
    targetUri: `gemini://h.example/${n}`,
    date: new Date(),
    rawHeader: Buffer.from('20 text/plain\r\n'),
    body: Buffer.from(`page ${n} `.repeat(50)),
    complete: true,
    termination: 'close_notify',
  });

  for (const name of ['torn.warc', 'torn.warc.gz']) {
    it(`${name}: the torn tail is dropped, so every record before it and every one appended after it reads`, async () => {
      const file = path.join(dir, name);
      const first = new WarcWriter(file);
      first.writeExchange(exchange(1));
      first.close();
      const whole = fs.statSync(file).size;
      const second = new WarcWriter(file);
      second.writeExchange(exchange(2));
      second.close();
      // a kill in the middle of the last write: keep part of the last exchange only
      const torn = whole + Math.floor((fs.statSync(file).size - whole) * 0.6);
      fs.truncateSync(file, torn);

      const third = new WarcWriter(file);
      expect(third.droppedBytes).toBeGreaterThan(0);
      third.writeExchange(exchange(3));
      third.close();
      const records = await readWithWarcio(file);
      const uris = records.filter((r) => r.type === 'response').map((r) => r.headers.get('WARC-Target-URI'));
      expect(uris[0]).toBe('gemini://h.example/1');
      expect(uris.at(-1)).toBe('gemini://h.example/3');
      for (const record of records) expect(Number(record.headers.get('Content-Length'))).toBe(record.block.length);
    });
  }

  it('walks records whose header is longer than its first 4 KiB read', async () => {
    const file = path.join(dir, 'long.warc');
    const writer = new WarcWriter(file);
    writer.writeExchange({ ...exchange(1), targetUri: `gemini://h.example/${'l'.repeat(5000)}` });
    writer.writeExchange(exchange(2));
    writer.close();
    fs.truncateSync(file, fs.statSync(file).size - 7);
    const again = new WarcWriter(file);
    expect(again.droppedBytes).toBeGreaterThan(7);
    again.close();
    const records = await readWithWarcio(file);
    expect(records.map((r) => r.type)).toEqual(['warcinfo', 'request', 'response', 'request', 'warcinfo']);
  });

  it('a file that holds something else is refused with a StorageError naming it, and left untouched', () => {
    const file = path.join(dir, 'notes.warc');
    fs.writeFileSync(file, 'my notes, not a WARC file\n');
    expect(() => new WarcWriter(file)).toThrow(`cannot append to the WARC file ${file}: not a WARC record at byte 0`);
    expect(fs.readFileSync(file, 'utf8')).toBe('my notes, not a WARC file\n');
    const gz = path.join(dir, 'other.warc.gz');
    fs.writeFileSync(gz, zlib.gzipSync('WARC/1.1\r\n'));
    expect(() => new WarcWriter(gz)).toThrow('not a gzip member written by gemfetch at byte 0');
    expect(zlib.gunzipSync(fs.readFileSync(gz)).toString()).toBe('WARC/1.1\r\n');
  });
});

describe('what a response exposes for archiving', () => {
  let server: GeminiTestServer;
  const cert = createCertificate({ commonName: 'raw', ipAddresses: ['127.0.0.1'] });
  beforeAll(async () => {
    server = await startGeminiServer({ host: '127.0.0.1', cert, handler: sendRaw('20\r\nbody after a META-less header') });
  });
  afterAll(async () => server?.close());

  it('rawHeader is the header line as received; peer gives the address and, on a full handshake, the certificate DER', async () => {
    const client = new Client({ trust: 'insecure' });
    const first = await client.fetch(`gemini://127.0.0.1:${server.port}/`);
    expect(first.rawHeader).toEqual(Buffer.from('20\r\n'));
    expect(first.meta).toBe('');
    expect(first.body.toString()).toBe('body after a META-less header');
    expect(first.peer.address).toBe('127.0.0.1');
    expect(first.peer.port).toBe(server.port);
    expect(first.peer.certificate).toEqual(new X509Certificate(cert.cert).raw);
    // a resumed session presents no certificate: peer says so instead of guessing
    const second = await client.fetch(`gemini://127.0.0.1:${server.port}/`);
    if (second.tls.resumed) expect(second.peer.certificate).toBeUndefined();
    else expect(second.peer.certificate).toEqual(new X509Certificate(cert.cert).raw);
    expect(second.tls.fingerprint).toBe(cert.fingerprint);
  });
});

const distWarc = path.resolve(__dirname, '../dist/files/warc.js');

describe.skipIf(!fs.existsSync(distWarc))('WARC file after a real kill -9 of its writer', () => {
  for (const name of ['killed.warc', 'killed.warc.gz']) {
    it(`${name}: wherever the kill lands, reopening and appending leaves a file warcio reads to the end`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-warc-kill-'));
      try {
        const file = path.join(dir, name);
        // writes up to 400 exchanges of 64 KiB (random: gzip cannot shrink them); killed once the file has grown past 1 MB
        const script = `
          const { WarcWriter } = await import(${JSON.stringify(pathToFileURL(distWarc).href)});
          const w = new WarcWriter(${JSON.stringify(file)});
          const body = (await import('node:crypto')).randomBytes(64 * 1024);
          for (let i = 0; i < 400; i++) w.writeExchange({ targetUri: 'gemini://h.example/' + i, date: new Date(), rawHeader: Buffer.from('20 text/plain\\r\\n'), body, complete: true, termination: 'close_notify' });
          w.close();`;
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
        let running = true;
        const exited = new Promise((resolve) => child.once('exit', resolve)).finally(() => (running = false));
        for (let i = 0; i < 2000 && running && !(fs.existsSync(file) && fs.statSync(file).size > 1_000_000); i++) await sleep(5);
        child.kill('SIGKILL');
        await exited;
        const writer = new WarcWriter(file);
        writer.writeExchange({ targetUri: 'gemini://h.example/after', date: new Date(), rawHeader: Buffer.from('51 Not found\r\n'), body: Buffer.alloc(0), complete: true, termination: 'close_notify' });
        writer.close();
        const records = await readWithWarcio(file);
        expect(records.at(-1)!.headers.get('WARC-Target-URI')).toBe('gemini://h.example/after');
        expect(records.filter((r) => r.type === 'warcinfo')).toHaveLength(2);
        for (const record of records) expect(Number(record.headers.get('Content-Length'))).toBe(record.block.length);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
