/**
 * A TCP proxy on loopback that forwards client->server bytes untouched and
 * cuts, corrupts or extends the server->client stream at chosen byte offsets,
 * for the byte-exact truncation cases a TLS server cannot produce itself.
 *
 * Offsets count server->client bytes of one connection from 0. Every
 * connection through the proxy gets the same treatment.
 */
import net from 'node:net';

/** Options of {@link startTlsProxy}. */
export interface ProxyOptions {
  target: { host: string; port: number };
  /** Forward exactly this many server->client bytes, then apply `thenDo`. */
  cutAt?: number;
  /** Forward whole TLS records only: stop at the first record boundary >= this offset, then apply `thenDo`. */
  cutAtRecordBoundary?: number;
  /** After a cut: FIN, RST, or keep the client connection open and silent. Default 'fin'. The server side is destroyed in every case. */
  thenDo?: 'fin' | 'reset' | 'hold';
  /**
   * Forward every TLS record but the last one: each record is withheld until the
   * next one starts or the server stays quiet for `holdMs` (default 20 ms); when
   * the server ends, the withheld record (normally the close_notify alert) is
   * dropped and `thenDo` applies. Byte offsets of earlier connections are no
   * guide for this (ECDSA signatures vary in length; TLS 1.3 tickets may come before or after the response), which is why it exists.
   */
  dropFinalRecord?: boolean;
  /** Delay before `thenDo` (e.g. so the client has read the data before an RST arrives). Default 0. */
  thenDelayMs?: number;
  /**
   * Cut where THIS connection's own records say: called each time a record
   * header of the server's stream has been parsed, with every record seen so
   * far (the last may still be arriving); returns the offset to cut at, or
   * undefined while it cannot tell yet. The answer is asked for once per new
   * record and is final. Until it is known, only bytes of records whose header
   * the function has seen are forwarded, so any offset from the start of the
   * newest record on is still possible. If the server ends first, the stream
   * is forwarded whole (no cut). Then `thenDo` applies, as for `cutAt`.
   */
  cutWhere?: RecordSelector;
  /** Flip the lowest bit of the server->client byte at this offset. */
  corruptAt?: number;
  /** Like `cutWhere`, for the byte `corruptAt` would flip: chosen from this connection's records. */
  corruptWhere?: RecordSelector;
  /** Sent to the client as soon as it connects, before any server byte. */
  injectBeforeServer?: Buffer;
  /** Sent to the client after the server's last byte when the server ends (FIN), before the proxy's own FIN. */
  appendAfterServerEnd?: Buffer;
  /**
   * Hold server bytes back (up to `holdMs`, default 20 ms) and, if the
   * server ends meanwhile, write them and the FIN back to back (cork, write,
   * end) so they usually share one TCP segment. Best effort: Node cannot force
   * a single segment.
   */
  coalesceEnd?: boolean;
  /** Hold window of `coalesceEnd` and `dropFinalRecord`. */
  holdMs?: number;
}

/** One TLS record of the server's stream, as the proxy saw its header. */
export interface TlsRecord {
  /** Content type byte (22 handshake, 20 change_cipher_spec, 21 alert, 23 application data; TLS 1.3 shows 23 for every encrypted record). */
  type: number;
  /** Offset of its first byte (the 5-byte record header) in the connection's server stream. */
  start: number;
  /** Whole length, header included. */
  length: number;
  /** start + length. */
  end: number;
}

/** Picks an offset from the records a connection carried so far; undefined while it cannot tell. */
export type RecordSelector = (records: readonly TlsRecord[]) => number | undefined;

/** A running proxy made by {@link startTlsProxy}. */
export interface TlsProxy {
  host: string;
  port: number;
  /** `gemini://127.0.0.1:PORT/path` (path defaults to '/'). */
  url(path?: string): string;
  /** Server->client bytes forwarded on the most recent connection (injected/appended bytes not counted). */
  bytesForwarded: number;
  /** Server->client bytes received from the server on the most recent connection. */
  bytesFromServer: number;
  /** Connections accepted so far. */
  connectionCount: number;
  /** Every server->client byte received from the server on the most recent connection, before any alteration (for {@link tlsRecordBoundaries}). */
  serverBytes(): Buffer;
  /** Stops listening and destroys all connections. */
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 on an ephemeral port. */
export async function startTlsProxy(options: ProxyOptions): Promise<TlsProxy> {
  const sockets = new Set<net.Socket>();
  let lastServerChunks: Buffer[] = [];
  const proxy: TlsProxy = {
    host: '127.0.0.1',
    port: 0,
    url: (path = '/') => `gemini://127.0.0.1:${proxy.port}${path.startsWith('/') ? path : `/${path}`}`,
    bytesForwarded: 0,
    bytesFromServer: 0,
    connectionCount: 0,
    serverBytes: () => Buffer.concat(lastServerChunks),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    proxy.connectionCount++;
    proxy.bytesForwarded = 0;
    proxy.bytesFromServer = 0;
    const serverChunks: Buffer[] = [];
    lastServerChunks = serverChunks;
    const upstream = net.connect({ ...options.target, allowHalfOpen: true });
    track(client);
    track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    if (options.injectBeforeServer) client.write(options.injectBeforeServer);
    pipeClientToServer(client, upstream);
    upstream.on('data', (chunk: Buffer) => serverChunks.push(chunk));
    pipeServerToClient(upstream, client, options, proxy);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  proxy.port = (server.address() as net.AddressInfo).port;
  return proxy;
}

function pipeClientToServer(client: net.Socket, upstream: net.Socket): void {
  client.on('data', (chunk: Buffer) => {
    if (!upstream.destroyed && !upstream.writableEnded) upstream.write(chunk);
  });
  client.on('end', () => {
    if (!upstream.destroyed) upstream.end();
  });
  client.on('close', (hadError) => {
    if (hadError && !upstream.destroyed) upstream.resetAndDestroy();
    else if (client.readableEnded) upstream.end();
    else upstream.destroy();
  });
}

function pipeServerToClient(upstream: net.Socket, client: net.Socket, options: ProxyOptions, proxy: TlsProxy): void {
  const records = new RecordTracker();
  let offset = 0; // server bytes received
  let forwarded = 0; // server bytes forwarded
  let held = Buffer.alloc(0); // received but not yet forwarded
  let releasedUpTo = 0; // dropFinalRecord: bytes released by the quiet timer
  let cut = false;
  let holdTimer: NodeJS.Timeout | undefined;
  // cutWhere / corruptWhere: the offsets their selectors chose on this connection, once they did.
  let cutOffset: number | undefined;
  let corruptOffset = options.corruptAt;
  let corrupted = false;
  let recordsAsked = 0;
  /** A selector has not chosen yet: hold back what it could still choose. */
  const undecided = (): boolean =>
    (options.cutWhere !== undefined && cutOffset === undefined) || (options.corruptWhere !== undefined && corruptOffset === undefined);
  // An RST makes the kernel discard bytes still queued for sending: reset only once the last write is out.
  let lastWrite: Promise<void> = Promise.resolve();

  /** Highest offset that may be forwarded now, and whether reaching it means a cut. */
  const limit = (): { max: number; final: boolean } => {
    if (options.cutAt !== undefined) return { max: options.cutAt, final: offset >= options.cutAt };
    // Nothing past the newest record whose header the selectors have seen: their choice may still fall there.
    if (undecided()) return { max: records.headersKnownUpTo(), final: false };
    if (cutOffset !== undefined) return { max: cutOffset, final: offset >= cutOffset };
    if (options.cutAtRecordBoundary !== undefined) {
      const boundary = records.firstBoundaryAtOrAfter(options.cutAtRecordBoundary);
      if (boundary !== undefined) return { max: boundary, final: offset >= boundary };
      return { max: options.cutAtRecordBoundary, final: false };
    }
    if (options.dropFinalRecord) return { max: Math.max(releasedUpTo, records.lastRecordStart()), final: false };
    return { max: Infinity, final: false };
  };

  const send = (bytes: Buffer): void => {
    if (bytes.length === 0 || client.destroyed || client.writableEnded) return;
    lastWrite = new Promise((resolve) => client.write(bytes, () => resolve()));
    forwarded += bytes.length;
    proxy.bytesForwarded = forwarded;
  };

  const flushHeld = (): void => {
    clearTimeout(holdTimer);
    holdTimer = undefined;
    const { max } = limit();
    const allowed = Math.max(0, Math.min(held.length, max - forwarded));
    send(held.subarray(0, allowed));
    held = held.subarray(allowed);
  };

  const applyCut = (): void => {
    cut = true;
    held = Buffer.alloc(0);
    upstream.destroy();
    const act = (): void => {
      const action = options.thenDo ?? 'fin';
      if (client.destroyed) return;
      if (action === 'fin') client.end();
      else if (action === 'reset') void lastWrite.then(() => client.destroyed || client.resetAndDestroy());
    };
    if (options.thenDelayMs) setTimeout(act, options.thenDelayMs);
    else act();
  };

  /** Asks the selectors about records not shown to them yet. */
  const consultSelectors = (): void => {
    if (recordsAsked === records.list.length) return;
    recordsAsked = records.list.length;
    if (options.cutWhere && cutOffset === undefined) cutOffset = options.cutWhere(records.list);
    if (options.corruptWhere && corruptOffset === undefined) corruptOffset = options.corruptWhere(records.list);
  };

  /** Flips the chosen bit once its byte is held (received, not yet forwarded). */
  const corruptHeld = (): void => {
    if (corrupted || corruptOffset === undefined || corruptOffset < forwarded || corruptOffset >= offset) return;
    held[corruptOffset - forwarded]! ^= 0x01;
    corrupted = true;
  };

  upstream.on('data', (data: Buffer) => {
    if (cut) return;
    records.feed(data);
    offset += data.length;
    proxy.bytesFromServer = offset;
    held = Buffer.concat([held, data]); // own copy: we may modify it
    consultSelectors();
    corruptHeld();
    if (options.coalesceEnd) {
      holdTimer ??= setTimeout(flushHeld, options.holdMs ?? 20);
      return;
    }
    flushHeld();
    if (options.dropFinalRecord && held.length > 0) {
      // release the withheld record if the server goes quiet without ending
      holdTimer = setTimeout(() => {
        releasedUpTo = offset;
        flushHeld();
      }, options.holdMs ?? 20);
      return;
    }
    const { max, final } = limit();
    if (final && forwarded >= max) applyCut();
  });

  upstream.on('end', () => {
    if (cut) return;
    if (options.coalesceEnd) client.cork();
    const stillUndecided = undecided(); // the server ended before a selector chose: no cut, no corruption
    flushHeld();
    const { max } = limit();
    if ((!stillUndecided && forwarded >= max) || options.dropFinalRecord) {
      applyCut();
      return;
    }
    if (held.length > 0) send(held); // stream ended before the cut point was known
    if (options.appendAfterServerEnd) client.write(options.appendAfterServerEnd);
    client.end();
  });

  upstream.on('close', (hadError) => {
    clearTimeout(holdTimer);
    if (cut || client.destroyed) return;
    if (hadError) {
      flushHeld();
      client.resetAndDestroy();
    }
  });
  upstream.on('error', () => {});
}

/** Follows TLS record headers (5 bytes: type, version, length) across chunks. */
class RecordTracker {
  /** Offsets where records end. */
  readonly boundaries: number[] = [];
  /** Every record whose header was parsed, in order. */
  readonly list: TlsRecord[] = [];
  private header = Buffer.alloc(0);
  private position = 0; // bytes consumed
  private recordEnd = 0; // end offset of the current record (== position when expecting a header)

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.position < this.recordEnd) {
        const take = Math.min(chunk.length - i, this.recordEnd - this.position);
        i += take;
        this.position += take;
        if (this.position === this.recordEnd) this.boundaries.push(this.recordEnd);
        continue;
      }
      const take = Math.min(chunk.length - i, 5 - this.header.length);
      this.header = Buffer.concat([this.header, chunk.subarray(i, i + take)]);
      i += take;
      this.position += take;
      if (this.header.length === 5) {
        this.recordEnd = this.position + this.header.readUInt16BE(3);
        const start = this.position - 5;
        this.list.push({ type: this.header[0]!, start, length: this.recordEnd - start, end: this.recordEnd });
        this.header = Buffer.alloc(0);
        if (this.recordEnd === this.position) this.boundaries.push(this.recordEnd);
      }
    }
  }

  /** Offset up to which every byte belongs to a record whose header is parsed. */
  headersKnownUpTo(): number {
    return this.position - this.header.length;
  }

  /** Start offset of the last record seen, complete or not (0 before the second record). */
  lastRecordStart(): number {
    const last = this.boundaries.at(-1) ?? 0;
    if (this.position > last) return last;
    return this.boundaries.at(-2) ?? 0;
  }

  /** The first record end >= offset, as soon as the header of the record holding it is known. */
  firstBoundaryAtOrAfter(offset: number): number | undefined {
    const done = this.boundaries.find((b) => b >= offset);
    if (done !== undefined) return done;
    // inside a record whose header is parsed: its end is known before its bytes arrive
    if (this.position < this.recordEnd && this.recordEnd >= offset) return this.recordEnd;
    return undefined;
  }
}

/**
 * Offsets (from 0) at which complete TLS records end in `bytes`, which must
 * start at a record boundary. A trailing partial record adds no offset.
 */
export function tlsRecordBoundaries(bytes: Buffer): number[] {
  const tracker = new RecordTracker();
  tracker.feed(bytes);
  return [...tracker.boundaries];
}
