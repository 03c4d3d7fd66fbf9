/**
 * The package as users install it: `npm pack`, unpacked into a separate
 * project's node_modules, then used from CommonJS (`require`), from ESM, from
 * the packed command line, and type-checked by TypeScript consumers. The
 * consumers fetch from a real Gemini server on 127.0.0.1.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { respondWith, routes, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { requireBuild, ROOT, scratchDirs } from './support/cli.js';

const scratch = scratchDirs();
let server: GeminiTestServer;
let project: string;
let home: string;
let packedFiles: string[];

beforeAll(async () => {
  requireBuild();
  server = await startGeminiServer({ handler: routes({ '/': respondWith('20 text/gemini', '# Packed\n') }) });
  project = scratch('gemfetch-consumer-');
  home = scratch('gemfetch-consumer-home-');
  const packDir = scratch('gemfetch-pack-');
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: ROOT, encoding: 'utf8' });
  const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  packedFiles = info!.files.map((f) => f.path);
  const modules = path.join(project, 'node_modules');
  const target = path.join(modules, 'gemfetch');
  fs.mkdirSync(target, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(packDir, path.basename(info!.filename)), '-C', target, '--strip-components=1']);
  // The runtime dependency (yargs) and the type packages come from this checkout, as npm would install them.
  for (const name of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === 'gemfetch' || name.startsWith('.')) continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(modules, name));
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
});

/** Runs `node args...` in the consumer project without blocking this process (it serves the fetches). */
function runNode(args: string[], cwd = project): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, XDG_DATA_HOME: home, GEMFETCH_TEST_URL: server.url('/') };
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

const CONSUMER_BODY = `
  const res = await fetch(process.env.GEMFETCH_TEST_URL);
  console.log(JSON.stringify({ status: res.status, complete: res.complete, text: res.text(), client: typeof Client }));
`;

describe('the packed tarball', () => {
  it('ships the licence, and source maps that carry their sources (src/ is not shipped)', () => {
    expect(packedFiles).toContain('LICENSE');
    expect(packedFiles.some((f) => f.startsWith('src/'))).toBe(false);
    const maps = packedFiles.filter((f) => f.endsWith('.map'));
    for (const map of maps) {
      const parsed = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'gemfetch', map), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
      expect(parsed.sourcesContent?.length, map).toBe(parsed.sources.length);
    }
  });

  it('works with require() from a CommonJS consumer', async () => {
    fs.writeFileSync(path.join(project, 'consumer.cjs'), `const { fetch, Client } = require('gemfetch');\n(async () => {${CONSUMER_BODY}})();\n`);
    const r = await runNode(['consumer.cjs']);
    expect(r.stderr).not.toMatch(/Error/);
    expect(JSON.parse(r.stdout)).toEqual({ status: 20, complete: true, text: '# Packed\n', client: 'function' });
  });

  it('works with import from an ES module consumer', async () => {
    fs.writeFileSync(path.join(project, 'consumer.mjs'), `import { fetch, Client } from 'gemfetch';\n${CONSUMER_BODY}\n`);
    const r = await runNode(['consumer.mjs']);
    expect(JSON.parse(r.stdout)).toEqual({ status: 20, complete: true, text: '# Packed\n', client: 'function' });
  });

  it('runs its command line from the package', async () => {
    const r = await runNode([path.join(project, 'node_modules', 'gemfetch', 'bin', 'gemfetch.js'), server.url('/')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('# Packed\n');
  });
});

const TS_CONSUMER = `import { fetch, Client, type GeminiResponse } from 'gemfetch';
export async function title(url: string): Promise<string> {
  const res: GeminiResponse = await fetch(url);
  const client = new Client({ trust: 'tofu' });
  void client;
  return res.text();
}
`;

async function typeCheck(tsc: string, compilerOptions: Record<string, unknown>, fileName: string): Promise<{ status: number | null; output: string }> {
  const dir = path.join(project, `ts-${path.basename(path.dirname(path.dirname(tsc)))}-${String(compilerOptions.module)}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, fileName), TS_CONSUMER);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, types: ['node'], ...compilerOptions }, files: [fileName] }));
  const r = await runNode([tsc, '-p', dir], dir);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('TypeScript consumers of the packed declarations', () => {
  it('import Node modules as namespaces or by name, never by default import (TS1192 without esModuleInterop)', () => {
    const dist = path.join(ROOT, 'dist');
    const offending = (fs.readdirSync(dist, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.d.ts'))
      .flatMap((f) => fs.readFileSync(path.join(dist, f), 'utf8').split('\n').filter((line) => /^import (type )?[A-Za-z_$][\w$]* from 'node:/.test(line)).map((line) => `${f}: ${line}`));
    expect(offending).toEqual([]);
  });

  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

  it('type-check with module CommonJS', async () => {
    const r = await typeCheck(tsc, { module: 'commonjs' }, 'index.ts');
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  it('type-check with module NodeNext from a .cts file', async () => {
    const r = await typeCheck(tsc, { module: 'nodenext' }, 'index.cts');
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  // TypeScript 7 no longer has esModuleInterop: false; consumers on TypeScript 5 still do. CI installs a
  // TypeScript 5 compiler outside the project and names it here (GEMFETCH_TS5_TSC), as .ci/run shows.
  const ts5 = process.env.GEMFETCH_TS5_TSC;
  const requireTs5 = process.env.GEMFETCH_REQUIRE_TS5 === '1';
  it.skipIf(!ts5 && !requireTs5)('type-check on TypeScript 5 with module CommonJS and without esModuleInterop', async () => {
    expect(ts5, 'GEMFETCH_TS5_TSC must name a TypeScript 5 tsc').toBeTruthy();
    const r = await typeCheck(ts5!, { module: 'commonjs', target: 'es2022', esModuleInterop: false, skipLibCheck: false }, 'index.ts');
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);
});
