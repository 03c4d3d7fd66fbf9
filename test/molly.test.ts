/**
 * Interoperability with a real Gemini server: the Debian `molly-brown`
 * (Go crypto/tls), started on a free loopback port.
 *
 * Without molly-brown the tests are skipped, saying why; with
 * GEMFETCH_REQUIRE_MOLLY=1 (CI) a missing molly-brown fails them instead.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { Client } from '../src/net/client.js';
import { bigBodyPattern } from './support/gemini-server.js';
import { makeTempDir, removeDir } from './support/harness.js';
import { startMolly, type Molly } from './support/molly.js';

const page = '# Hello from molly\n\n=> /data.bin A binary file\nUnicode: ☃ é\n';
const binary = bigBodyPattern(300_000);
const requireMolly = process.env.GEMFETCH_REQUIRE_MOLLY === '1';

let started: Awaited<ReturnType<typeof startMolly>> | undefined;
let startError: unknown;
let dir: string;

beforeAll(async () => {
  dir = await makeTempDir('gemfetch-molly-test-');
  try {
    started = await startMolly({ 'index.gmi': page, 'data.bin': binary }, { redirects: { '/old': '/index.gmi' } });
  } catch (error) {
    startError = error; // reported by each test
  }
});

afterAll(async () => {
  if (started?.molly) await started.molly.close();
  await removeDir(dir);
});

/** The running molly; skips the test (or fails it when molly is required) when there is none. */
function mollyOrSkip(context: TestContext): Molly {
  if (startError) throw startError; // molly is installed but did not start: a real failure
  if (started?.molly) return started.molly;
  const reason = started ? started.reason : 'startMolly did not run';
  if (requireMolly) throw new Error(`GEMFETCH_REQUIRE_MOLLY=1 but molly-brown is unavailable: ${reason}`);
  context.skip(`molly-brown interop skipped: ${reason}`);
  throw new Error('unreachable');
}

const client = (): Client =>
  new Client({ knownHosts: join(dir, 'known_hosts'), connectTimeout: 3000, handshakeTimeout: 3000, headerTimeout: 3000, totalTimeout: 10_000 });

describe('molly-brown interop', () => {
  it('serves a text/gemini page, complete via close_notify, pinned on first use', async (context) => {
    const molly = mollyOrSkip(context);
    const res = await client().fetch(molly.url('/index.gmi'));
    expect(res.status).toBe(20);
    expect(res.mimeType).toBe('text/gemini');
    expect(res.text()).toBe(page);
    expect(res.complete).toBe(true);
    expect(res.termination).toBe('close_notify');
    expect(res.tls.fingerprint).toBe(molly.cert.fingerprint);
    expect(['first-use', 'match']).toContain(res.tls.trust);
  });

  it('serves a binary file byte-exact and complete', async (context) => {
    const molly = mollyOrSkip(context);
    const res = await client().fetch(molly.url('/data.bin'));
    expect(res.status).toBe(20);
    expect(res.complete).toBe(true);
    expect(res.body.length).toBe(binary.length);
    expect(res.body.equals(binary)).toBe(true);
  });

  it('answers 51 for a missing file, complete', async (context) => {
    const molly = mollyOrSkip(context);
    const res = await client().fetch(molly.url('/missing.gmi'));
    expect(res.status).toBe(51);
    expect(res.complete).toBe(true);
    expect(res.body.length).toBe(0);
  });

  it('follows a configured redirect and records it', async (context) => {
    const molly = mollyOrSkip(context);
    const res = await client().fetch(molly.url('/old'));
    expect(res.redirects).toEqual([molly.url('/old')]);
    expect(res.url).toBe(molly.url('/index.gmi'));
    expect(res.status).toBe(20);
    expect(res.text()).toBe(page);
    expect(res.complete).toBe(true);
  });

  it('returns the redirect itself when redirects are disabled', async (context) => {
    const molly = mollyOrSkip(context);
    const res = await client().fetch(molly.url('/old'), { maxRedirects: 0 });
    expect(res.status).toBe(30);
    expect(res.redirectNotFollowed).toEqual({ target: molly.url('/index.gmi'), reason: 'disabled' });
    expect(res.complete).toBe(true);
  });
});
