/**
 * makeDirectory: one component at a time (bounded, no spinning under /proc),
 * links followed only down to the trusted root, and the after-the-fact check
 * that catches a directory swapped for a link. Real directories on disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../src/errors.js';
import { confirmNoLinksBelow, makeDirectory } from '../src/files/safe-dirs.js';
import { scratchDirs } from './support/cli.js';

describe('makeDirectory', () => {
  const scratch = scratchDirs();

  it('creates every missing component and accepts existing ones', async () => {
    const root = scratch('gemfetch-dirs-');
    const deep = path.join(root, 'a', 'b', 'c');
    expect(await makeDirectory(deep)).toBe(deep);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
    expect(await makeDirectory(deep)).toBe(deep);
  });

  it('names the component where a file stands (ENOTDIR)', async () => {
    const root = scratch('gemfetch-dirs-');
    fs.writeFileSync(path.join(root, 'file'), 'x');
    const err = await makeDirectory(path.join(root, 'file', 'sub')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: 'ERR_STORAGE', path: path.join(root, 'file'), syscallCode: 'ENOTDIR' });
  });

  it('follows links down to the trusted root, refuses one below it, and creates nothing through it', async () => {
    const root = scratch('gemfetch-dirs-');
    const elsewhere = scratch('gemfetch-dirs-elsewhere-');
    fs.symlinkSync(elsewhere, path.join(root, 'link'));
    await makeDirectory(path.join(root, 'link', 'ok'), { trustedRoot: path.join(root, 'link') });
    expect(fs.readdirSync(elsewhere)).toEqual(['ok']);
    const err = await makeDirectory(path.join(root, 'link', 'no'), { trustedRoot: root }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_STORAGE', syscallCode: 'ELOOP', path: path.join(root, 'link') });
    expect(fs.readdirSync(elsewhere)).toEqual(['ok']);
  });

  it.skipIf(!fs.existsSync('/proc/1/status'))('fails at once under /proc, where a recursive mkdir never ends', async () => {
    await expect(makeDirectory('/proc/1/gemfetch-x/y')).rejects.toMatchObject({ code: 'ERR_STORAGE', path: '/proc/1/gemfetch-x' });
  });

  it('confirmNoLinksBelow catches a directory swapped for a link after it was made', async () => {
    const root = scratch('gemfetch-dirs-');
    const elsewhere = scratch('gemfetch-dirs-elsewhere-');
    const dir = await makeDirectory(path.join(root, 'host', 'sub'), { trustedRoot: root });
    await confirmNoLinksBelow(dir, root);
    fs.rmSync(path.join(root, 'host'), { recursive: true });
    fs.mkdirSync(path.join(elsewhere, 'sub'));
    fs.symlinkSync(elsewhere, path.join(root, 'host'));
    await expect(confirmNoLinksBelow(dir, root)).rejects.toMatchObject({ code: 'ERR_STORAGE', syscallCode: 'ELOOP' });
  });
});
