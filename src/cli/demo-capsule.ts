/**
 * The tiny in-process capsule behind `gemfetch demo`: a Gemini server on
 * 127.0.0.1 (a free port, a self-signed certificate made at start) with a few
 * pages, one of which it cuts off without TLS close_notify.
 */
import net from 'node:net';
import tls from 'node:tls';
import { createCertificate } from '../trust/selfsigned.js';

/** A running demo capsule. */
export interface DemoCapsule {
  port: number;
  /** `gemini://127.0.0.1:PORT` + path. */
  url(path: string): string;
  /** SHA-256 of the certificate's public key. */
  fingerprint: string;
  /** Stops the server and closes every connection. */
  close(): Promise<void>;
}

/** The index page (text/gemini). */
export const DEMO_INDEX = [
  '# The gemfetch demo capsule',
  '',
  'This page ends the way every Gemini response should: the server sends a TLS close_notify alert, then closes the connection.',
  '',
  '=> /story.gmi A story the server cuts off',
  '=> /endless An endless stream',
  '=> /missing A page that does not exist',
  '',
].join('\n');

/** The story: the server sends the first part only, then closes TCP without close_notify. */
export const DEMO_STORY_SENT = [
  '# The treasure map',
  '',
  'Walk forty paces north from the old oak, then turn east at the well.',
  'The treasure is buried under the',
].join('\n');

/** The part of the story the server never sends. */
export const DEMO_STORY_LOST = ' third stone from the gate.\n';

type Handler = (socket: tls.TLSSocket, raw: net.Socket) => void;

const PAGES: Readonly<Record<string, Handler>> = {
  '/': (socket) => {
    socket.end(`20 text/gemini; charset=utf-8\r\n${DEMO_INDEX}`); // end() = close_notify, then FIN
  },
  '/story.gmi': (socket, raw) => {
    socket.write(`20 text/gemini; charset=utf-8\r\n${DEMO_STORY_SENT}`, () => raw.end()); // FIN only
  },
  '/endless': (socket) => {
    let n = 0;
    const tick = (): void => {
      if (socket.destroyed || socket.writableEnded) return;
      n++;
      const ok = socket.write(`Line ${n} of a stream that never ends.\n`);
      if (ok) setImmediate(tick);
      else socket.once('drain', tick);
    };
    socket.write('20 text/plain; charset=utf-8\r\n', tick);
  },
};

/** Starts the capsule on 127.0.0.1 and a free port. */
export async function startDemoCapsule(): Promise<DemoCapsule> {
  const certificate = createCertificate({ commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'] });
  const context = tls.createSecureContext({ cert: certificate.cert, key: certificate.key });
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => {});
    serve(raw, context);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: (path) => `gemini://127.0.0.1:${port}${path}`,
    fingerprint: certificate.fingerprint,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function serve(raw: net.Socket, secureContext: tls.SecureContext): void {
  const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
  socket.on('error', () => socket.destroy());
  let received = '';
  const onData = (chunk: Buffer): void => {
    received += chunk.toString('utf8');
    const end = received.indexOf('\r\n');
    if (end === -1) {
      if (received.length > 1026) socket.end('59 Bad request\r\n');
      return;
    }
    socket.off('data', onData);
    let path = '';
    try {
      path = new URL(received.slice(0, end)).pathname;
    } catch {
      socket.end('59 Bad request\r\n');
      return;
    }
    const handler = PAGES[path];
    if (handler) handler(socket, raw);
    else socket.end('51 Not found\r\n');
  };
  socket.on('data', onData);
}
