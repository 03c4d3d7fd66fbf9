/**
 * The real `gemfetch` command against a real server, molly-brown (Go
 * crypto/tls), when installed: byte-exact bodies, close_notify seen,
 * redirects, failure statuses.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMolly, type Molly } from './support/molly.js';
import { removeDir, requireBuild, runCli, tempDir } from './support/cli.js';

const INDEX = '# Molly\n\n=> page.gmi A page\n';
const BLOB = crypto.randomBytes(100_000);

let molly: Molly | null = null;
let skipReason = '';
let home: string;

beforeAll(async () => {
  requireBuild();
  home = tempDir();
  const started = await startMolly({ 'index.gmi': INDEX, 'files/blob.bin': BLOB, 'page.gmi': '# Page\n' }, { redirects: { '/old': '/page.gmi' } });
  if (started.molly) molly = started.molly;
  else skipReason = started.reason;
});

afterAll(async () => {
  await molly?.close();
  removeDir(home);
});

describe('against molly-brown', () => {
  it('fetches byte for byte, complete (close_notify), exit 0', async (ctx) => {
    if (!molly) return ctx.skip(`molly-brown unavailable: ${skipReason}`);
    const r = await runCli(home, [molly.url('/files/blob.bin')]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(BLOB)).toBe(true);
    expect(r.stderr).toBe('');
  });

  it('reports records, redirects and failures', async (ctx) => {
    if (!molly) return ctx.skip(`molly-brown unavailable: ${skipReason}`);
    const r = await runCli(home, ['--json', molly.url('/'), molly.url('/old'), molly.url('/nope.gmi')]);
    const [index, moved, missing] = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(index).toMatchObject({ status: 20, mimeType: 'text/gemini', complete: true, termination: 'close_notify', bytes: INDEX.length });
    expect(moved).toMatchObject({ status: 20, complete: true, redirects: [molly.url('/old')], finalUrl: molly.url('/page.gmi') });
    expect(missing!.status).toBe(51);
    expect(r.code).toBe(5);
  });

  it('-O saves under the URL name', async (ctx) => {
    if (!molly) return ctx.skip(`molly-brown unavailable: ${skipReason}`);
    const dir = tempDir();
    try {
      const r = await runCli(home, ['--output-dir', dir, molly.url('/files/blob.bin'), molly.url('/')]);
      expect(r.code).toBe(0);
      expect(fs.readdirSync(dir).sort()).toEqual(['blob.bin', 'index.gmi']);
      expect(fs.readFileSync(path.join(dir, 'blob.bin')).equals(BLOB)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
