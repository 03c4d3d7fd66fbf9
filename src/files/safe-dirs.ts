/**
 * Creating directories safely: one component at a time, with a bounded loop
 * and non-recursive mkdir calls, so that a path where mkdir can never succeed
 * (e.g. under /proc, where Node's recursive mkdir spins forever) fails at
 * once with an error naming the directory; and, below a given root, never
 * through a symbolic link (a link planted in a mirror tree must not send the
 * files elsewhere).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { StorageError } from '../errors.js';

/** Options of {@link makeDirectory}. */
export interface MakeDirectoryOptions {
  /**
   * Components of the path down to this directory (included) are followed as
   * usual, links included (the user chose them); every component below it
   * must be a real directory: a symbolic link there is refused. Default: the
   * directory itself (links anywhere are followed).
   */
  trustedRoot?: string;
  /** Mode of the directories created (default 0o777 minus the umask). */
  mode?: number;
}

/**
 * Makes sure `dir` exists as a directory, creating each missing component
 * in turn (as `mkdir -p` would, without Node's recursive mkdir). Every
 * component is visited once, so the work is bounded by the number of
 * components. A component created concurrently by someone else is accepted
 * when it is a directory (and, below `trustedRoot`, not a link). Resolves
 * with the absolute path.
 * @throws StorageError naming the component that is not a directory, is a
 *   refused symbolic link, or cannot be created (its `syscallCode` is the
 *   system error code: `ENOENT`, `EACCES`, `ENOTDIR`, `ELOOP`...).
 */
export async function makeDirectory(dir: string, options: MakeDirectoryOptions = {}): Promise<string> {
  const target = path.resolve(dir);
  const trusted = path.resolve(options.trustedRoot ?? target);
  const { root } = path.parse(target);
  let current = root;
  for (const part of target.slice(root.length).split(path.sep)) {
    if (part === '') continue;
    current = path.join(current, part);
    await ensureComponent(current, !isStrictlyInside(current, trusted), options.mode);
  }
  return target;
}

/**
 * Checks, after the fact, that `dir` (inside `trustedRoot`) is reached from
 * `trustedRoot` without any symbolic link: its real path is the real path of
 * `trustedRoot` plus the same components. Used after a file was created in
 * `dir`, to catch a directory swapped for a link between {@link makeDirectory}
 * and the creation.
 * @throws StorageError (`ELOOP`) when it is not.
 */
export async function confirmNoLinksBelow(dir: string, trustedRoot: string): Promise<void> {
  const relative = path.relative(path.resolve(trustedRoot), path.resolve(dir));
  const expected = path.join(await fs.realpath(trustedRoot), relative);
  const actual = await fs.realpath(dir);
  if (actual !== expected) {
    throw linkRefused(dir, `${dir} leads to ${actual} through a symbolic link`);
  }
}

function isStrictlyInside(candidate: string, dir: string): boolean {
  const relative = path.relative(dir, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

async function ensureComponent(dir: string, followLinks: boolean, mode: number | undefined): Promise<void> {
  let stats = await fs.lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new StorageError(`cannot create the directory ${dir}: ${err.message}`, dir, err);
  });
  if (!stats) {
    try {
      await fs.mkdir(dir, mode === undefined ? {} : { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StorageError(`cannot create the directory ${dir}: ${(err as Error).message}`, dir, err);
      }
    }
    // verify what is there now: created by us, or by someone else meanwhile
    stats = await fs.lstat(dir).catch((err: Error) => {
      throw new StorageError(`cannot create the directory ${dir}: ${err.message}`, dir, err);
    });
  }
  if (stats.isSymbolicLink()) {
    if (!followLinks) throw linkRefused(dir, `${dir} is a symbolic link`);
    stats = await fs.stat(dir).catch((err: Error) => {
      throw new StorageError(`cannot use the directory ${dir}: ${err.message}`, dir, err);
    });
  }
  if (!stats.isDirectory()) {
    const err = Object.assign(new Error(`ENOTDIR: not a directory, ${dir}`), { code: 'ENOTDIR' });
    throw new StorageError(`cannot create the directory ${dir}: a file that is not a directory stands there (ENOTDIR)`, dir, err);
  }
}

function linkRefused(dir: string, what: string): StorageError {
  const err = Object.assign(new Error(`ELOOP: ${what}`), { code: 'ELOOP' });
  return new StorageError(`refusing to write through a symbolic link: ${what} (ELOOP)`, dir, err);
}
