/**
 * An exclusive lock on a directory (a crawl's `--state DIR`): the file
 * `DIR/lock`, created with O_EXCL, holding its owner's pid, host name, process
 * start time and a random token.
 *
 * A lock is stale, and taken over, when its owner is on this host and is not
 * running: no process with its pid, or a process with that pid that started
 * at another time (the pid was reused; start times are read from /proc where
 * there is one). A lock of another host is never taken over: the message says
 * which file to remove once that crawl is known to be gone.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StateLockedError } from '../errors.js';

/** Name of the lock file inside the locked directory. */
export const LOCK_FILE = 'lock';

interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the process (clock ticks since boot, from /proc), null where unknown. */
  started: string | null;
  token: string;
}

/** A held lock; `release()` removes the file if it is still ours. */
export class DirectoryLock {
  readonly path: string;
  readonly #token: string;
  #released = false;

  private constructor(file: string, token: string) {
    this.path = file;
    this.#token = token;
  }

  /**
   * Locks `dir` (which must exist).
   * @throws StateLockedError naming the directory and the owner when a running crawl holds it.
   * @throws the system error when the lock file cannot be created or read.
   */
  static acquire(dir: string): DirectoryLock {
    const file = path.join(dir, LOCK_FILE);
    const me: LockOwner = { pid: process.pid, host: os.hostname(), started: startTime(process.pid), token: randomBytes(12).toString('hex') };
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        fs.writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: 'wx', mode: 0o644 });
        return new DirectoryLock(file, me.token);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = readIfExists(file);
      if (text === undefined) continue; // released meanwhile
      const owner = parseOwner(text);
      if (owner && isAlive(owner)) {
        const who = owner.pid === process.pid && owner.host === me.host ? 'another crawl in this process' : `process ${owner.pid} on ${owner.host}`;
        const remedy = owner.host === me.host ? 'wait for it to end or stop it' : `if that crawl is gone, remove ${file}`;
        throw new StateLockedError(`the crawl state directory ${dir} is in use by ${who} (lock file ${file}): ${remedy}, or use another --state directory`, file);
      }
      removeStale(file, text);
    }
    throw new StateLockedError(`could not lock the crawl state directory ${dir}: its lock file ${file} keeps changing`, file);
  }

  /** Removes the lock file, unless someone else's lock replaced it. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const text = readIfExists(this.path);
    if (text !== undefined && parseOwner(text)?.token === this.#token) fs.rmSync(this.path, { force: true });
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The owner, or undefined for a file that is not a lock of ours (torn by a crash while written: stale). */
function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as LockOwner;
    return Number.isInteger(owner.pid) && typeof owner.host === 'string' && typeof owner.token === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the owner may still be running: always for another host (we cannot tell). */
function isAlive(owner: LockOwner): boolean {
  if (owner.host !== os.hostname()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // The pid runs: the same process only if it started when the owner did.
  const started = startTime(owner.pid);
  return owner.started === null || started === null || started === owner.started;
}

/**
 * Moves a stale lock away, making sure it is the one judged stale: between
 * reading it and moving it, another process may have taken it over (then its
 * fresh lock is put back, and the next attempt sees a live owner).
 */
function removeStale(file: string, staleText: string): void {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (readIfExists(aside) !== staleText) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // a third process locked it meanwhile: its lock stands
    }
  }
  fs.rmSync(aside, { force: true });
}

/** Start time of a process (field 22 of /proc/PID/stat), or null where it cannot be read. */
function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
