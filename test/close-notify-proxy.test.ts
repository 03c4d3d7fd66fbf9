/**
 * Truncation through a TCP proxy that cuts, corrupts or extends the server's
 * byte stream at chosen offsets: a response is `complete` only with
 * close_notify, never loses a byte of a whole record forwarded before a cut,
 * and never hangs. TLS 1.2 and TLS 1.3.
 *
 * A probe connection learns the record lengths of the response header, of a
 * body chunk and of the close_notify alert (constants of the cipher). Every
 * other case cuts or corrupts where THAT connection's own records put the
 * target (the proxy parses the record stream as it flows): byte offsets of
 * one connection are no guide to the next, since TLS 1.3 session tickets may
 * come before, between or after the response records. The cut matrix does use
 * byte offsets (any offset is a fair cut); what was deliverable is recomputed
 * from each connection's own bytes, and the server's Ed25519 certificate keeps
 * the handshake the same size on every connection.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import { GeminiError } from '../src/errors.js';
import { createCertificate } from '../src/trust/selfsigned.js';
import { connectTls, isTlsProtocolError } from '../src/net/transport.js';
import { bigBodyPattern, routes, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { clientForVersion } from './support/harness.js';
import { startTlsProxy, tlsRecordBoundaries, type ProxyOptions, type RecordSelector, type TlsProxy, type TlsRecord } from './support/tls-proxy.js';

/** An unusual header length, so its record is recognisable by size among handshake and ticket records. */
const HEADER_LINE = '20 application/octet-stream; note=cut-matrix-xyz\r\n';
const CHUNK = 10_000;
const CHUNKS = 5;
const BODY = bigBodyPattern(CHUNK * CHUNKS);
const TEST_TIMEOUT = 20_000;

const cert = createCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], keyType: 'ed25519' });

/** Record layout of one server->client stream. */
interface Layout {
  /** Start and end offset of each complete record. */
  records: Array<{ start: number; end: number; length: number }>;
  total: number;
  /** Record length (header included) of the response header record, of each body record and of the close_notify alert. */
  headerRecordLength: number;
  bodyRecordLength: number;
  alertRecordLength: number;
}

/** A connection's records by role, told apart by their lengths (see {@link Layout}). */
function rolesOf(records: readonly TlsRecord[], layout: Layout): { header?: TlsRecord; body: TlsRecord[]; alert?: TlsRecord } {
  const headerIndex = records.findIndex((r) => r.length === layout.headerRecordLength);
  if (headerIndex < 0) return { body: [] };
  const after = records.slice(headerIndex + 1);
  return {
    header: records[headerIndex],
    body: after.filter((r) => r.length === layout.bodyRecordLength),
    alert: after.find((r) => r.length === layout.alertRecordLength),
  };
}

/** Where to cut or corrupt: `at` bytes into a record of this connection, or its end. */
type Within = number | 'end';
const within = (record: TlsRecord | undefined, at: Within): number | undefined =>
  record && (at === 'end' ? record.end : record.start + at);

function recordsOf(bytes: Buffer): Layout['records'] {
  let start = 0;
  return tlsRecordBoundaries(bytes).map((end) => {
    const record = { start, end, length: end - start };
    start = end;
    return record;
  });
}

/**
 * What a client can have received when the stream is cut at `cut`: only whole
 * records authenticate, so the header arrived if its record is whole, and the
 * body holds CHUNK bytes per whole body record.
 */
function deliverable(stream: Buffer, cut: number, layout: Layout): { header: boolean; bodyBytes: number } {
  let header = false;
  let bodyBytes = 0;
  for (const record of recordsOf(stream)) {
    if (record.end > cut) break;
    if (record.length === layout.headerRecordLength) header = true;
    else if (record.length === layout.bodyRecordLength && header) bodyBytes += CHUNK;
  }
  return { header, bodyBytes };
}


type Outcome =
  | { kind: 'response'; complete: boolean; termination: string; body: Buffer; bytes: number; timeout?: string; error?: Error }
  | { kind: 'error'; code: string; error: unknown };

/** The records of a whole stream, as the proxy's selectors see them. */
function tlsRecordsOf(stream: Buffer): TlsRecord[] {
  return recordsOf(stream).map(({ start, end, length }) => ({ type: stream[start]!, start, end, length }));
}

/**
 * Limits of a client for cases whose subject is not a timeout: generous, so a
 * loaded machine that stalls the process (timers then run before pending I/O
 * is read) cannot turn a reset or FIN into a timeout.
 */
const PATIENT = { handshakeTimeout: 5000, headerTimeout: 5000, idleTimeout: 5000 } as const;

async function fetchOutcome(client: Client, url: string): Promise<Outcome> {
  try {
    const response = await client.fetch(url);
    return {
      kind: 'response',
      complete: response.complete,
      termination: response.termination,
      body: response.body,
      bytes: response.completion.bytes,
      ...(response.completion.timeout ? { timeout: response.completion.timeout } : {}),
      ...(response.completion.error ? { error: response.completion.error } : {}),
    };
  } catch (error) {
    return { kind: 'error', code: error instanceof GeminiError ? error.code : `not a GeminiError: ${String(error)}`, error };
  }
}

describe.each([['TLSv1.2'], ['TLSv1.3']] as const)('truncation through a proxy over %s', (version) => {
  let server: GeminiTestServer;
  let layout: Layout;
  let probeStream: Buffer;

  /** Runs one fetch through a fresh proxy; returns the outcome and the server bytes the proxy saw. */
  async function throughProxy(options: Omit<ProxyOptions, 'target'>, client = clientForVersion(version, PATIENT)): Promise<{ outcome: Outcome; stream: Buffer; proxy: TlsProxy }> {
    const proxy = await startTlsProxy({ target: server, ...options });
    try {
      const outcome = await fetchOutcome(client, proxy.url('/body'));
      return { outcome, stream: proxy.serverBytes(), proxy };
    } finally {
      await proxy.close();
    }
  }

  beforeAll(async () => {
    server = await startGeminiServer({
      cert,
      minVersion: version,
      maxVersion: version,
      handler: routes({
        '/body': async (ctx) => {
          await ctx.write(HEADER_LINE);
          for (let i = 0; i < CHUNKS; i++) await ctx.write(BODY.subarray(i * CHUNK, (i + 1) * CHUNK));
          ctx.endWithCloseNotify();
        },
      }),
    });
    // Probe: the whole stream, untouched.
    const probe = await throughProxy({});
    expect(probe.outcome).toMatchObject({ kind: 'response', complete: true, termination: 'close_notify' });
    probeStream = probe.stream;
    const records = recordsOf(probeStream);
    expect(records.at(-1)?.end).toBe(probeStream.length);
    // The header record and the body records, recognised from the end of the response.
    const counts = new Map<number, number>();
    for (const record of records) counts.set(record.length, (counts.get(record.length) ?? 0) + 1);
    const bodyRecordLength = [...counts].find(([, count]) => count === CHUNKS)?.[0];
    expect(bodyRecordLength).toBeDefined();
    const overhead = bodyRecordLength! - CHUNK;
    const headerRecordLength = Buffer.byteLength(HEADER_LINE) + overhead;
    expect(counts.get(headerRecordLength)).toBe(1); // recognisable by length, and the overhead is consistent
    const alertRecordLength = records.at(-1)!.length;
    expect(alertRecordLength).toBeLessThan(headerRecordLength); // recognisable by length too
    layout = { records, total: probeStream.length, headerRecordLength, bodyRecordLength: bodyRecordLength!, alertRecordLength };
  }, TEST_TIMEOUT);

  /** The n-th record of this connection (0: the ServerHello). */
  const nth = (n: number, at: Within): RecordSelector => (records) => within(records[n], at);
  const inHeader = (at: Within): RecordSelector => (records) => within(rolesOf(records, layout).header, at);
  /** Body record `n` (0-based) of this connection. */
  const inBody = (n: number, at: Within): RecordSelector => (records) => within(rolesOf(records, layout).body[n], at);
  const inAlert = (at: Within): RecordSelector => (records) => within(rolesOf(records, layout).alert, at);

  afterAll(async () => {
    await server?.close();
  });

  /** Every record boundary but the last (a cut there is no cut) and about twenty offsets inside records. */
  function cutOffsets(): number[] {
    const offsets = new Set<number>([0, 1, 3]);
    const { records } = layout;
    for (const record of records.slice(0, -1)) offsets.add(record.end);
    const headerRecord = records.find((r) => r.length === layout.headerRecordLength)!;
    const inside = (record: { start: number; length: number }, at: number): number => record.start + Math.min(record.length - 1, at);
    // inside the header record: in its 5-byte record header, right after it, mid-way, last byte
    for (const at of [2, 5, 6, Math.floor(headerRecord.length / 2), headerRecord.length - 1]) offsets.add(inside(headerRecord, at));
    // inside each body record
    for (const record of records.filter((r) => r.length === layout.bodyRecordLength)) {
      for (const at of [1, 4000, record.length - 1]) offsets.add(inside(record, at));
    }
    // inside handshake records and inside the final close_notify record
    for (const record of records.slice(0, 3)) offsets.add(inside(record, Math.floor(record.length / 2)));
    const last = records.at(-1)!;
    offsets.add(inside(last, 3));
    offsets.add(layout.total - 1);
    return [...offsets].filter((offset) => offset < layout.total).sort((a, b) => a - b);
  }

  describe.each([['fin'], ['reset']] as const)('cut, then %s', (thenDo) => {
    it('never complete; every byte of every whole record kept; errors before the header, never a hang', { timeout: TEST_TIMEOUT }, async () => {
      const offsets = cutOffsets();
      expect(offsets.length).toBeGreaterThan(30);
      const client = clientForVersion(version, PATIENT);
      // Inside the close_notify record, wherever this connection carries it (its offset varies: TLS 1.3 tickets).
      const cuts: Array<number | RecordSelector> = [...offsets.filter((offset) => offset <= layout.records.at(-1)!.start), inAlert(3), inAlert(layout.alertRecordLength - 1)];
      const problems: string[] = [];
      let responses = 0;
      let rejections = 0;
      const terminations = new Map<string, number>();
      let sawConnectionClosed = false;
      for (const cutSpec of cuts) {
        const { outcome, stream } = await throughProxy(typeof cutSpec === 'number' ? { cutAt: cutSpec, thenDo } : { cutWhere: cutSpec, thenDo }, client);
        const cut = typeof cutSpec === 'number' ? cutSpec : cutSpec(tlsRecordsOf(stream));
        const where = `cut at ${String(cut)}/${stream.length} (${thenDo})`;
        const alert = rolesOf(tlsRecordsOf(stream), layout).alert;
        if (cut === undefined || (alert !== undefined && alert.end <= cut)) {
          // This connection carried fewer bytes than the probe: nothing was cut, so the response must be whole.
          if (cut === undefined || !(outcome.kind === 'response' && outcome.complete && outcome.body.equals(BODY))) problems.push(`${where}: nothing cut, yet ${JSON.stringify(outcome.kind === 'response' ? { ...outcome, body: outcome.body.length } : outcome.code)}`);
          continue;
        }
        const expected = deliverable(stream, cut, layout);
        if (!expected.header) {
          rejections++;
          if (outcome.kind !== 'error') problems.push(`${where}: header record not whole, yet got a response ${JSON.stringify({ ...outcome, body: outcome.body.length })}`);
          else if (!['ERR_TLS', 'ERR_CONNECTION_CLOSED'].includes(outcome.code)) problems.push(`${where}: unexpected error ${outcome.code}`);
          // ERR_TLS while the handshake is incomplete, ERR_CONNECTION_CLOSED after it: never back again.
          else if (outcome.code === 'ERR_TLS' && sawConnectionClosed) problems.push(`${where}: ERR_TLS after an earlier cut gave ERR_CONNECTION_CLOSED`);
          if (outcome.kind === 'error' && outcome.code === 'ERR_CONNECTION_CLOSED') sawConnectionClosed = true;
          continue;
        }
        responses++;
        if (outcome.kind !== 'response') {
          problems.push(`${where}: header record whole, yet rejected with ${outcome.code}`);
          continue;
        }
        // FIN vs RST is best effort (the notes): an RST right behind the data may be read as EOF.
        const wanted = thenDo === 'fin' ? ['tcp_fin'] : ['tcp_reset', 'tcp_fin'];
        if (outcome.complete) problems.push(`${where}: complete`);
        if (!wanted.includes(outcome.termination)) problems.push(`${where}: termination ${outcome.termination}, expected ${wanted.join(' or ')}`);
        terminations.set(outcome.termination, (terminations.get(outcome.termination) ?? 0) + 1);
        if (outcome.bytes !== outcome.body.length) problems.push(`${where}: done.bytes ${outcome.bytes} != body ${outcome.body.length}`);
        if (!outcome.body.equals(BODY.subarray(0, outcome.body.length))) problems.push(`${where}: body is not a prefix of the real body`);
        if (outcome.body.length !== expected.bodyBytes) problems.push(`${where}: body ${outcome.body.length} bytes, whole records before the cut carry ${expected.bodyBytes}`);
      }
      if (process.env.GEMFETCH_TEST_VERBOSE) console.log(version, thenDo, Object.fromEntries(terminations));
      expect(problems).toEqual([]);
      // The matrix covers both sides of the header.
      expect(responses).toBeGreaterThan(10);
      expect(rejections).toBeGreaterThan(5);
    });
  });

  it('cut, then RST once the client has read everything: tcp_reset', { timeout: TEST_TIMEOUT }, async () => {
    for (const [name, cutWhere, bytes] of [
      ['end of body record 2', inBody(1, 'end'), 2 * CHUNK],
      ['3000 bytes into body record 4', inBody(3, 3000), 3 * CHUNK],
    ] as const) {
      const { outcome } = await throughProxy({ cutWhere, thenDo: 'reset', thenDelayMs: 100 });
      expect(outcome, `cut at ${name}`).toMatchObject({ kind: 'response', complete: false, termination: 'tcp_reset', bytes });
    }
  });

  it('cut inside the first record (ServerHello): ERR_TLS', { timeout: TEST_TIMEOUT }, async () => {
    for (const thenDo of ['fin', 'reset'] as const) {
      const { outcome } = await throughProxy({ cutWhere: (records) => within(records[0], Math.floor(records[0]!.length / 2)), thenDo });
      expect(outcome).toMatchObject({ kind: 'error', code: 'ERR_TLS' });
    }
  });

  it('cut right before the header record: ERR_CONNECTION_CLOSED', { timeout: TEST_TIMEOUT }, async () => {
    for (const thenDo of ['fin', 'reset'] as const) {
      const { outcome } = await throughProxy({ cutWhere: inHeader(0), thenDo });
      expect(outcome).toMatchObject({ kind: 'error', code: 'ERR_CONNECTION_CLOSED' });
    }
  });

  it('cut mid-record then FIN: tcp_fin, no error thrown, whole records kept', { timeout: TEST_TIMEOUT }, async () => {
    const { outcome } = await throughProxy({ cutWhere: inBody(2, 2000), thenDo: 'fin' });
    expect(outcome).toMatchObject({ kind: 'response', complete: false, termination: 'tcp_fin', bytes: 2 * CHUNK });
    if (outcome.kind !== 'response') return;
    expect(outcome.error).toBeUndefined();
    expect(outcome.body.equals(BODY.subarray(0, 2 * CHUNK))).toBe(true);
  });

  it('cut, then the connection held open: ends by the idle timeout, bytes kept', { timeout: TEST_TIMEOUT }, async () => {
    const client = clientForVersion(version, { idleTimeout: 300 });
    for (const [name, cutWhere, bytes] of [
      ['end of the header record', inHeader('end'), 0],
      ['100 bytes into body record 2', inBody(1, 100), CHUNK],
      ['end of body record 4', inBody(3, 'end'), 4 * CHUNK],
      ['last byte of close_notify', inAlert(layout.alertRecordLength - 1), 5 * CHUNK],
    ] as const) {
      const { outcome } = await throughProxy({ cutWhere, thenDo: 'hold' }, client);
      expect(outcome, `cut at ${name}`).toMatchObject({ kind: 'response', complete: false, termination: 'timeout', timeout: 'idle', bytes });
      if (outcome.kind === 'response') expect(outcome.body.equals(BODY.subarray(0, bytes))).toBe(true);
    }
  });

  it('cut inside the header record, then held open: the header timeout rejects', { timeout: TEST_TIMEOUT }, async () => {
    const { outcome } = await throughProxy({ cutWhere: inHeader(10), thenDo: 'hold' }, clientForVersion(version, { headerTimeout: 300 }));
    expect(outcome).toMatchObject({ kind: 'error', code: 'ERR_TIMEOUT' });
  });

  it('corrupted byte inside an application-data record: tls_error, earlier records kept', { timeout: TEST_TIMEOUT }, async () => {
    const { outcome } = await throughProxy({ corruptWhere: inBody(2, 5000) });
    expect(outcome).toMatchObject({ kind: 'response', complete: false, termination: 'tls_error', bytes: 2 * CHUNK });
    if (outcome.kind !== 'response') return;
    expect(isTlsProtocolError(outcome.error)).toBe(true);
    expect(outcome.body.equals(BODY.subarray(0, 2 * CHUNK))).toBe(true);
  });

  it('corrupted byte in the header record: rejects ERR_TLS', { timeout: TEST_TIMEOUT }, async () => {
    const { outcome } = await throughProxy({ corruptWhere: inHeader(10) });
    expect(outcome).toMatchObject({ kind: 'error', code: 'ERR_TLS' });
  });

  it('corrupted byte during the handshake: rejects ERR_TLS', { timeout: TEST_TIMEOUT }, async () => {
    // a byte of the ServerHello random, then one in the middle of the second record
    expect(layout.records[0]!.length).toBeGreaterThan(20);
    for (const [name, corruptWhere] of [
      ['ServerHello random', nth(0, 20)],
      ['middle of the second record', (records: readonly TlsRecord[]) => within(records[1], Math.floor((records[1]?.length ?? 0) / 2))],
    ] as const) {
      const { outcome } = await throughProxy({ corruptWhere });
      expect(outcome, `corrupt at ${name}`).toMatchObject({ kind: 'error', code: 'ERR_TLS' });
    }
  });

  it('plaintext close_notify injected before the ServerHello: handshake aborted', { timeout: TEST_TIMEOUT }, async () => {
    const alert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00]); // alert record: warning, close_notify
    const { outcome } = await throughProxy({ injectBeforeServer: alert });
    expect(outcome.kind).toBe('error');
    if (outcome.kind === 'error') expect(['ERR_TLS', 'ERR_CONNECTION_CLOSED']).toContain(outcome.code);
    // The transport itself refuses the connection.
    const proxy = await startTlsProxy({ target: server, injectBeforeServer: alert });
    try {
      const attempt = connectTls({
        host: '127.0.0.1',
        port: proxy.port,
        connectTimeout: 1000,
        handshakeTimeout: 1000,
        tlsOptions: { minVersion: version, maxVersion: version },
      });
      await expect(attempt).rejects.toMatchObject({ code: 'ERR_TLS' });
    } finally {
      await proxy.close();
    }
  });

  it('close_notify and FIN coalesced: complete', { timeout: TEST_TIMEOUT }, async () => {
    const { outcome } = await throughProxy({ coalesceEnd: true });
    expect(outcome).toMatchObject({ kind: 'response', complete: true, termination: 'close_notify', bytes: BODY.length });
    if (outcome.kind === 'response') expect(outcome.body.equals(BODY)).toBe(true);
  });

  it('close_notify dropped, FIN kept: every byte, but tcp_fin', { timeout: TEST_TIMEOUT }, async () => {
    const { outcome } = await throughProxy({ cutWhere: inAlert(0), thenDo: 'fin' });
    expect(outcome).toMatchObject({ kind: 'response', complete: false, termination: 'tcp_fin', bytes: BODY.length });
  });
});

describe('the proxy cuts by the records of each connection, not by earlier offsets', () => {
  /** A TLS-like record: type byte, version 3.3, length, then `length` bytes of `fill`. */
  const record = (type: number, length: number, fill: number): Buffer =>
    Buffer.concat([Buffer.from([type, 3, 3, length >> 8, length & 0xff]), Buffer.alloc(length, fill)]);
  const TARGET_LENGTH = 60; // the record the selectors look for: 65 bytes with its header
  const isTarget = (r: TlsRecord): boolean => r.length === TARGET_LENGTH + 5;
  /** Connection 1 carries no extra record before the target, connection 2 one (as a TLS 1.3 ticket may or may not come first). */
  const layouts = [
    [record(22, 100, 1), record(23, TARGET_LENGTH, 2), record(23, 200, 3)],
    [record(22, 100, 1), record(23, 150, 4), record(23, TARGET_LENGTH, 2), record(23, 200, 3)],
  ];

  /** Serves layouts[n] on the n-th connection, each record in two writes split inside its 5-byte header, a pause between. */
  async function recordServer(): Promise<{ server: net.Server; port: number }> {
    let connections = 0;
    const server = net.createServer(async (socket) => {
      socket.on('error', () => {});
      for (const rec of layouts[connections++ % layouts.length]!) {
        socket.write(rec.subarray(0, 2));
        await sleep(5);
        socket.write(rec.subarray(2));
      }
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as net.AddressInfo).port };
  }

  /** Reads everything the proxy forwards on one connection. */
  async function readThrough(proxy: TlsProxy): Promise<Buffer> {
    const socket = net.connect({ host: proxy.host, port: proxy.port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    return Buffer.concat(chunks);
  }

  it.each([
    ['end of the target record', 'end' as const],
    ['inside the target record header (held back until it was known)', 1],
    ['inside the target record body', 30],
  ])('cutWhere: %s, on both layouts', { timeout: TEST_TIMEOUT }, async (_name, at) => {
    const { server, port } = await recordServer();
    const proxy = await startTlsProxy({ target: { host: '127.0.0.1', port }, cutWhere: (records) => within(records.find(isTarget), at) });
    try {
      for (const layout of layouts) {
        const stream = Buffer.concat(layout);
        const target = Buffer.concat(layout.slice(0, layout.findIndex((r) => r.length === TARGET_LENGTH + 5)));
        const expectedLength = at === 'end' ? target.length + TARGET_LENGTH + 5 : target.length + at;
        const received = await readThrough(proxy);
        expect(received.equals(stream.subarray(0, expectedLength))).toBe(true);
      }
    } finally {
      await proxy.close();
      server.close();
    }
  });

  it('corruptWhere flips the chosen byte of each connection, and only it', { timeout: TEST_TIMEOUT }, async () => {
    const { server, port } = await recordServer();
    const proxy = await startTlsProxy({ target: { host: '127.0.0.1', port }, corruptWhere: (records) => within(records.find(isTarget), 10) });
    try {
      for (const layout of layouts) {
        const stream = Buffer.concat(layout);
        const at = Buffer.concat(layout.slice(0, layout.findIndex((r) => r.length === TARGET_LENGTH + 5))).length + 10;
        const received = await readThrough(proxy);
        expect(received.length).toBe(stream.length);
        const differing = [...received.keys()].filter((i) => received[i] !== stream[i]);
        expect(differing).toEqual([at]);
      }
    } finally {
      await proxy.close();
      server.close();
    }
  });
});
