/**
 * `request()` and `cancel()`: a streamed body that is not read to its end is
 * cancelled, and the connection closes at once, against a real server on
 * 127.0.0.1 that never stops sending (no timeout of ours could end it first:
 * idle and total limits are far away).
 */
import { describe, expect, it } from 'vitest';
import { Client } from '../src/net/client.js';
import type { RequestContext } from './support/gemini-server.js';
import { INSECURE_OPTIONS, perTestCleanup, until } from './support/harness.js';

const perTest = perTestCleanup();
/** Limits that cannot be what ends the response in these tests. */
const FAR_LIMITS = { ...INSECURE_OPTIONS, idleTimeout: 600_000, totalTimeout: 600_000 };

/** Sends 16 KiB chunks until the client goes away; records how the connection ended. */
function endless(state: { sent: number; ended: boolean }) {
  return async (ctx: RequestContext): Promise<void> => {
    ctx.raw.once('close', () => {
      state.ended = true;
    });
    await ctx.write('20 application/octet-stream\r\n');
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    try {
      while (!ctx.closed) {
        await ctx.write(chunk);
        state.sent += chunk.length;
      }
    } catch {
      // the client closed the connection
    }
  };
}

describe('cancel() on a streamed response', () => {
  it('after reading some of an endless body: done says aborted with the bytes read, and the server sees the connection close', async () => {
    const state = { sent: 0, ended: false };
    const server = await perTest.serve(endless(state));
    const res = await new Client().request(server.url('/endless'), FAR_LIMITS);
    let read = 0;
    for await (const chunk of res.body.iterator({ destroyOnReturn: false })) {
      read += (chunk as Buffer).length;
      if (read >= 64 * 1024) break;
    }
    res.cancel();
    res.cancel(); // idempotent
    const done = await res.done;
    expect(done.termination).toBe('aborted');
    expect(done.complete).toBe(false);
    expect(done.bytes).toBeGreaterThanOrEqual(read);
    await until(() => state.ended && server.activeConnections === 0, 'the server to see the connection closed', 20_000);
    await res.closed;
  });

  it('before reading any byte: the connection closes too', async () => {
    const state = { sent: 0, ended: false };
    const server = await perTest.serve(endless(state));
    const res = await new Client().request(server.url('/endless'), FAR_LIMITS);
    res.cancel();
    expect((await res.done).termination).toBe('aborted');
    await until(() => state.ended && server.activeConnections === 0, 'the server to see the connection closed', 20_000);
  });

  it('an unread, uncancelled body keeps the connection open (why the body must be read or cancelled)', async () => {
    const state = { sent: 0, ended: false };
    const server = await perTest.serve(endless(state));
    const res = await new Client().request(server.url('/endless'), FAR_LIMITS);
    // Backpressure stops the server's writes; nothing ends the response by itself.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(state.ended).toBe(false);
    expect(server.activeConnections).toBe(1);
    res.cancel();
    await until(() => state.ended, 'the server to see the connection closed', 20_000);
  });
});
