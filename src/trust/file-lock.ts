/**
 * Lock files shared by gemfetch's stores (known hosts, identities), and the
 * private directories they live in. A lock is a file created exclusively
 * (`O_EXCL`) next to the file it guards; concurrent processes retry with
 * backoff, and a lock left by a crashed process is broken once it is stale.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { link, mkdir, open, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortError } from '../errors.js';

/** Directory levels created at most, so a path that cannot be created fails instead of looping. */
const MAX_DIRECTORY_DEPTH = 64;

/** How a lock is taken. */
export interface FileLockOptions {
  /** A lock file not touched for this long is considered abandoned and broken (a held lock is touched every third of it). */
  staleMs: number;
  /** Give up after waiting this long: `timedOut` makes the error. */
  timeoutMs: number;
  /** Stop waiting (AbortError) once this aborts. */
  signal?: AbortSignal | undefined;
  /** The error thrown when the lock could not be taken in `timeoutMs`. */
  timedOut: () => Error;
  /** The error thrown when the lock file cannot be created (not because it exists): `reason` is the system's message. */
  cannotCreate: (reason: string, cause: unknown) => Error;
}

/** A lock held by this process. */
export interface HeldLock {
  /** Removes the lock file if it is still the one this process created (it may have been broken as stale). Never rejects. */
  release(): Promise<void>;
}

/**
 * Creates `lockPath` exclusively, retrying with backoff (2 to 25 ms, with
 * jitter) and breaking stale locks, until `timeoutMs`. The lock file holds the
 * pid; its mtime is refreshed while held so it never looks stale. Resolves
 * with the held lock; rejects with `timedOut()`, `cannotCreate(...)`, or
 * AbortError once `signal` aborts.
 */
export async function acquireFileLock(lockPath: string, options: FileLockOptions): Promise<HeldLock> {
  const { signal } = options;
  const deadline = Date.now() + options.timeoutMs;
  let delay = 2;
  for (;;) {
    throwIfAborted(signal);
    let handle: FileHandle | undefined;
    try {
      handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      const ino = (await handle.stat({ bigint: true })).ino;
      await handle.close();
      return heldLock(lockPath, ino, options.staleMs);
    } catch (err) {
      if (handle) {
        await handle.close().catch(() => {});
        await unlink(lockPath).catch(() => {});
      }
      if (handle || errnoCode(err) !== 'EEXIST') throw options.cannotCreate(err instanceof Error ? err.message : String(err), err);
    }
    await breakIfStale(lockPath, options.staleMs);
    if (Date.now() >= deadline) throw options.timedOut();
    await sleep(delay + Math.random() * delay, undefined, { signal }).catch(() => {});
    delay = Math.min(delay * 2, 25);
  }
}

/** A held lock: its mtime is refreshed so it never looks stale, and release removes it only if it is still ours. */
function heldLock(lockPath: string, ino: bigint, staleMs: number): HeldLock {
  const keepAlive = setInterval(() => {
    const t = new Date();
    utimes(lockPath, t, t).catch(() => {});
  }, Math.max(10, staleMs / 3));
  keepAlive.unref();
  return {
    release: async () => {
      clearInterval(keepAlive);
      try {
        if ((await stat(lockPath, { bigint: true })).ino === ino) await unlink(lockPath);
      } catch {
        // Already gone (broken as stale): nothing to release.
      }
    },
  };
}

/**
 * Removes the lock if it has not been touched for `staleMs`. It is first
 * renamed to a private name, and only deleted if what was renamed is the
 * lock judged stale (another process may have replaced it meanwhile).
 */
async function breakIfStale(lockPath: string, staleMs: number): Promise<void> {
  let seen: BigIntStats;
  try {
    seen = await stat(lockPath, { bigint: true });
  } catch {
    return; // Released meanwhile: retry at once.
  }
  if (Date.now() - Number(seen.mtimeMs) < staleMs) return;
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return;
  }
  try {
    if ((await stat(aside, { bigint: true })).ino !== seen.ino) {
      // We took a live lock: put it back unless someone else holds the name now.
      await link(aside, lockPath).catch(() => {});
    }
  } finally {
    await unlink(aside).catch(() => {});
  }
}

/**
 * Creates `dir` and its missing parents (mode 0700), one level at a time and
 * at most {@link MAX_DIRECTORY_DEPTH} levels: Node's recursive mkdir loops
 * forever where a directory exists but nothing can be created in it (under
 * /proc). Each missing level is tried twice at most, so this ends on any file
 * system. Throws the system error, or an Error when a part exists and is not
 * a directory.
 */
export async function makePrivateDirectories(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = dir; !(await makeDirectory(at, false)); at = dirname(at)) {
    missing.push(at);
    if (dirname(at) === at || missing.length > MAX_DIRECTORY_DEPTH) break;
  }
  for (const at of missing.reverse()) await makeDirectory(at, true);
}

/** mkdir of one level (mode 0700): true once `dir` is a directory, false when its parent is missing (unless `last`: then that throws). */
async function makeDirectory(dir: string, last: boolean): Promise<boolean> {
  try {
    await mkdir(dir, { mode: 0o700 });
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' && !last) return false;
    if (code !== 'EEXIST') throw err;
  }
  if (!(await stat(dir)).isDirectory()) throw new Error(`${dir} exists and is not a directory`);
  return true;
}

/** fsyncs a directory so a rename in it is durable; ignored where not supported (not needed for atomicity). */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, fsConstants.O_RDONLY);
    await handle.sync();
  } catch {
    // ignore
  } finally {
    await handle?.close().catch(() => {});
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError({ cause: signal.reason });
}

/** The `code` of a system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
