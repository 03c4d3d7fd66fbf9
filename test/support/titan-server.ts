/**
 * A Titan + Gemini server on loopback for upload tests: a tiny wiki.
 *
 * `titan://` requests upload: the parameters are parsed here independently of
 * src/ (split on ";", percent-decoded), the token and size are checked, and
 * exactly `size` body bytes are read. An upload stored at a path is served
 * back on `gemini://` for that path. Every upload attempt is recorded in
 * `uploads`, with the bytes actually received, so tests check what reached
 * the server rather than what the client says it sent.
 *
 * Imports nothing from src/ except the certificate generator.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { defaultServerCertificate } from './gemini-server.js';

/** One upload as the server saw it. */
export interface ReceivedUpload {
  /** The request line, as received. */
  request: string;
  /** The path before the parameters. */
  path: string;
  /** Every parameter, percent-decoded; `raw` keeps them as received. */
  params: Record<string, string>;
  rawParams: Record<string, string>;
  /** Declared size (NaN when missing or not a number). */
  size: number;
  /** Body bytes received (at most `size`; any more are counted in `extraBytes`). */
  body: Buffer;
  /** Bytes received after the declared size. */
  extraBytes: number;
  /** All `size` bytes arrived. */
  whole: boolean;
  /** SPKI SHA-256 (hex) of the client certificate, when one was sent. */
  clientCertificate: string | undefined;
  /** The answer the server sent: `early` before reading the body, `after` once it had all of it, `none` when the connection ended first. */
  answered: 'early' | 'after' | 'none';
  /** The connection has closed. */
  closed: boolean;
}

/** An answer: header line, optional body, and how the response ends (`fin`: no close_notify). */
export interface TitanAnswer {
  header: string;
  body?: string | Buffer;
  ending?: 'close_notify' | 'fin';
}

/** Options of {@link startTitanServer}. */
export interface TitanServerOptions {
  /** Ask for a client certificate (any is accepted and recorded). */
  requestCert?: boolean;
  /** Required token: an upload without this exact token gets `59 bad token` before its body is read. */
  token?: string;
  /** Largest upload accepted: a larger declared size gets `59 too large` before the body is read. */
  maxSize?: number;
  /** Answers before the body is read when it returns an answer (an early refusal). The body is then drained and discarded. */
  early?: (upload: ReceivedUpload) => TitanAnswer | undefined;
  /** After an early answer, stop reading (default: keep reading and discard the body). The client's unsent body then backs up. */
  stopReadingAfterEarly?: boolean;
  /** Read nothing of the body for this many ms after the request line, then go on (a slow server). */
  pauseBeforeBodyMs?: number;
  /** Read nothing after the request line and never answer (a stalled server). */
  stall?: boolean;
  /** The answer once the whole body arrived (undefined: none, the server stays silent). Default: store it and redirect (30) to its gemini:// URL. */
  after?: (upload: ReceivedUpload) => TitanAnswer | undefined;
}

/** A running Titan server. */
export interface TitanTestServer {
  host: string;
  port: number;
  /** `titan://127.0.0.1:PORT/path`. */
  titanUrl(path?: string): string;
  /** `gemini://127.0.0.1:PORT/path`. */
  geminiUrl(path?: string): string;
  /** Every upload attempt, in arrival order. */
  uploads: ReceivedUpload[];
  /** Every gemini:// request line. */
  reads: string[];
  /** TCP connections accepted. */
  connectionCount: number;
  /** TCP connections not yet closed. */
  readonly openConnections: number;
  /** Uploaded content per path. */
  pages: Map<string, { mime: string; body: Buffer }>;
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 1026;

/** Starts the server on 127.0.0.1, an ephemeral port. */
export async function startTitanServer(options: TitanServerOptions = {}): Promise<TitanTestServer> {
  const cert = defaultServerCertificate();
  // A session ID context lets clients resume sessions when a client certificate is requested (OpenSSL refuses otherwise).
  const secureContext = tls.createSecureContext({ cert: cert.cert, key: cert.key, sessionIdContext: 'gemfetch-titan-test' });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((raw) => {
    sockets.add(raw);
    state.connectionCount++;
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => {});
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext, requestCert: options.requestCert === true, rejectUnauthorized: false });
    socket.on('error', () => socket.destroy());
    serve(socket, raw, options, state);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  const withSlash = (path: string): string => (path.startsWith('/') ? path : `/${path}`);
  const state: TitanTestServer = {
    host: '127.0.0.1',
    port,
    titanUrl: (path = '/') => `titan://127.0.0.1:${port}${withSlash(path)}`,
    geminiUrl: (path = '/') => `gemini://127.0.0.1:${port}${withSlash(path)}`,
    uploads: [],
    reads: [],
    pages: new Map(),
    connectionCount: 0,
    get openConnections() {
      return sockets.size;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  return state;
}

function serve(socket: tls.TLSSocket, raw: net.Socket, options: TitanServerOptions, state: TitanTestServer): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const crlf = buffered.indexOf('\r\n');
    if (crlf < 0) {
      if (buffered.length >= MAX_REQUEST_BYTES) void answer(socket, raw, { header: '59 request too long' });
      return;
    }
    socket.off('data', onData);
    const line = buffered.subarray(0, crlf).toString('utf8');
    const rest = buffered.subarray(crlf + 2);
    if (line.startsWith('titan://')) receiveUpload(socket, raw, line, rest, options, state);
    else serveRead(socket, raw, line, state);
  };
  socket.on('data', onData);
}

function serveRead(socket: tls.TLSSocket, raw: net.Socket, line: string, state: TitanTestServer): void {
  state.reads.push(line);
  let path = '';
  try {
    path = new URL(line).pathname;
  } catch {
    void answer(socket, raw, { header: '59 bad request' });
    return;
  }
  const page = state.pages.get(path);
  void answer(socket, raw, page ? { header: `20 ${page.mime}`, body: page.body } : { header: '51 not found' });
}

/** Splits `titan://host/path;a=b;c=d` into the path and its parameters (independent of src/). */
function splitTitanLine(line: string): { path: string; params: Record<string, string>; rawParams: Record<string, string> } {
  const afterHost = line.indexOf('/', 'titan://'.length);
  const target = afterHost < 0 ? '/' : line.slice(afterHost).replace(/\?.*$/, '');
  const [path = '/', ...pairs] = target.split(';');
  const params: Record<string, string> = {};
  const rawParams: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    rawParams[name] = value;
    params[name] = decodeURIComponent(value);
  }
  return { path, params, rawParams };
}

function receiveUpload(socket: tls.TLSSocket, raw: net.Socket, line: string, first: Buffer, options: TitanServerOptions, state: TitanTestServer): void {
  const { path, params, rawParams } = splitTitanLine(line);
  const size = /^\d+$/.test(params.size ?? '') ? Number(params.size) : NaN;
  const peer = socket.getPeerX509Certificate();
  const upload: ReceivedUpload = {
    request: line,
    path,
    params,
    rawParams,
    size,
    body: Buffer.alloc(0),
    extraBytes: 0,
    whole: false,
    clientCertificate: peer ? crypto.createHash('sha256').update(peer.publicKey.export({ type: 'spki', format: 'der' })).digest('hex') : undefined,
    answered: 'none',
    closed: false,
  };
  state.uploads.push(upload);
  socket.on('close', () => {
    upload.closed = true;
  });
  if (options.stall) {
    socket.pause();
    return;
  }
  const refusal =
    Number.isNaN(size) ? { header: '59 size parameter missing or invalid' }
    : options.token !== undefined && params.token !== options.token ? { header: '59 bad token' }
    : options.maxSize !== undefined && size > options.maxSize ? { header: '59 too large' }
    : options.early?.(upload);
  const parts: Buffer[] = [];
  let received = 0;
  const take = (chunk: Buffer): void => {
    const room = Math.max(0, (Number.isNaN(size) ? 0 : size) - received);
    if (room > 0) parts.push(chunk.subarray(0, room));
    received += Math.min(room, chunk.length);
    upload.extraBytes += Math.max(0, chunk.length - room);
    if (!Number.isNaN(size) && received === size && !upload.whole) {
      upload.whole = true;
      collect();
      if (upload.answered === 'none') finish();
    }
  };
  // Concatenated once, not per chunk (a 10 MB body comes in hundreds of chunks).
  const collect = (): void => {
    if (parts.length > 0) {
      upload.body = Buffer.concat([upload.body, ...parts]);
      parts.length = 0;
    }
  };
  socket.on('close', collect);
  const finish = (): void => {
    upload.answered = 'after';
    const reply = options.after ? options.after(upload) : store(upload, state);
    if (reply) void answer(socket, raw, reply);
  };
  if (refusal) {
    upload.answered = 'early';
    void answer(socket, raw, refusal);
    if (options.stopReadingAfterEarly) {
      socket.pause();
      return;
    }
  }
  socket.on('data', take); // also drains the body after an early answer, so the client's last bytes cause no reset
  if (first.length > 0) take(first);
  if (options.pauseBeforeBodyMs !== undefined) {
    socket.pause();
    setTimeout(() => socket.resume(), options.pauseBeforeBodyMs).unref();
  }
  if (!refusal && size === 0) {
    upload.whole = true;
    finish();
  }
}

function store(upload: ReceivedUpload, state: TitanTestServer): TitanAnswer {
  state.pages.set(upload.path, { mime: upload.params.mime ?? 'text/gemini', body: upload.body });
  return { header: `30 ${state.geminiUrl(upload.path)}` };
}

/** Writes the answer, then ends with close_notify or with a bare FIN. */
async function answer(socket: tls.TLSSocket, raw: net.Socket, reply: TitanAnswer): Promise<void> {
  if (socket.destroyed || socket.writableEnded) return;
  const body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : (reply.body ?? Buffer.alloc(0));
  await new Promise<void>((resolve) => socket.write(Buffer.concat([Buffer.from(`${reply.header}\r\n`), body]), () => resolve()));
  if (reply.ending === 'fin') raw.end();
  else socket.end();
}
