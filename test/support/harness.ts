/**
 * Per-test set-up shared by the client-level tests: test servers and
 * temporary directories that are cleaned up after each test, a base set of
 * short request limits, and helpers for waiting on a condition or a rejection.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect } from 'vitest';
import type tls from 'node:tls';
import { Client, type ClientOptions, type RequestOptions } from '../../src/net/client.js';
import { GeminiError } from '../../src/errors.js';
import { startGeminiServer, type GeminiHandler, type GeminiTestServer, type GeminiTestServerOptions } from './gemini-server.js';

/**
 * Request limits short enough that a hang fails a test fast, long enough for
 * a loaded machine. No `trust`: spread it into options that set one.
 */
export const TEST_LIMITS: RequestOptions = { connectTimeout: 2000, handshakeTimeout: 2000, headerTimeout: 2000, totalTimeout: 5000 };

/** {@link TEST_LIMITS} with `trust: 'insecure'`, for tests where trust is not the point. */
export const INSECURE_OPTIONS: RequestOptions = { trust: 'insecure', ...TEST_LIMITS };

/**
 * A client pinned to one TLS version, trusting any certificate, without
 * session resumption, with limits short enough that a wrong verdict fails
 * fast instead of hanging (idle 500 ms). `extra` overrides any of it.
 */
export function clientForVersion(version: tls.SecureVersion, extra: ClientOptions = {}): Client {
  return new Client({
    trust: 'insecure',
    minVersion: version,
    maxVersion: version,
    connectTimeout: 1000,
    handshakeTimeout: 1000,
    headerTimeout: 1000,
    idleTimeout: 500,
    totalTimeout: 10_000,
    sessionResumption: false,
    ...extra,
  });
}

/** What {@link perTestCleanup} returns: resources that live for one test. */
export interface PerTest {
  /** Runs `cleanup` after the current test; cleanups run last-registered first, each awaited. */
  defer(cleanup: () => Promise<void> | void): void;
  /** Starts a loopback test server answering with `handler`; it is closed after the current test. */
  serve(handler: GeminiHandler, options?: Omit<GeminiTestServerOptions, 'handler'>): Promise<GeminiTestServer>;
  /** A fresh temporary directory, removed (recursively) after the current test. */
  tempDir(prefix?: string): Promise<string>;
  /** The path of a `known_hosts` file (not created) in a fresh temporary directory removed after the current test. */
  tempKnownHosts(prefix?: string): Promise<string>;
}

/**
 * Registers an `afterEach` in the calling scope that releases everything the
 * returned {@link PerTest} made during a test. Call it once, at file level.
 */
export function perTestCleanup(): PerTest {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });
  const defer = (cleanup: () => Promise<void> | void): void => {
    cleanups.push(cleanup);
  };
  const tempDir = async (prefix?: string): Promise<string> => {
    const dir = await makeTempDir(prefix);
    defer(() => removeDir(dir));
    return dir;
  };
  return {
    defer,
    async serve(handler, options = {}) {
      const server = await startGeminiServer({ ...options, handler });
      defer(() => server.close());
      return server;
    },
    tempDir,
    async tempKnownHosts(prefix) {
      return join(await tempDir(prefix), 'known_hosts');
    },
  };
}

/** Creates a fresh directory under the system temp directory; the caller removes it (see {@link removeDir}). */
export function makeTempDir(prefix = 'gemfetch-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Removes `dir` recursively; no error when it is missing or `dir` is undefined (a failed set-up). */
export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/**
 * The rejection of `promise`, asserting (with vitest's `expect`) that it
 * rejects and that the reason is a GeminiError. Fails the test if it resolves.
 */
export async function rejection(promise: Promise<unknown>): Promise<GeminiError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a rejection').toBeInstanceOf(GeminiError);
  return err as GeminiError;
}

/**
 * Polls `condition` every 5 ms until it holds; throws "timed out waiting for
 * `what`" after `limitMs`. For things the test cannot await directly.
 */
export async function until(condition: () => boolean, what: string, limitMs = 2000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Waits (up to `limitMs`) until `server` has no open connection, then asserts
 * that it has none, so a connection left open fails as an assertion.
 */
export async function connectionsClosed(server: GeminiTestServer, limitMs = 2000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (server.activeConnections > 0 && Date.now() < deadline) await sleep(5);
  expect(server.activeConnections).toBe(0);
}
