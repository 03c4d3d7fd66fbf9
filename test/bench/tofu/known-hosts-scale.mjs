// Measures the known-hosts store on a large file: time and peak RSS to check one
// host (verify of a pinned host, and get of an unknown one) and to add one pin.
// Not a test (no assertions): run by hand, `node test/bench/tofu/known-hosts-scale.mjs [pins] [dist/trust/tofu.js]`.
// Each measurement runs in a fresh child process so peak RSS is its own.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [pinsText = '1000000', modulePath = 'dist/trust/tofu.js', step] = process.argv.slice(2);
const FP = (i) => i.toString(16).padStart(64, '0');

if (step) {
  const { KnownHostsStore } = await import(pathToFileURL(resolve(modulePath)).href);
  const file = process.env.KH_FILE;
  const store = new KnownHostsStore(file);
  const started = performance.now();
  const expires = new Date('2099-01-01T00:00:00.000Z');
  if (step === 'verify-pinned') await store.verify('h-500000.example:1965', { fingerprint: FP(500000), expires, caVerified: false });
  if (step === 'get-unknown') await store.get('unknown.example:1965');
  if (step === 'add') await store.verify('new.example:1965', { fingerprint: FP(1), expires, caVerified: false });
  const ms = performance.now() - started;
  process.stdout.write(JSON.stringify({ step, ms: Math.round(ms), maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }) + '\n');
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'gemfetch-kh-scale-'));
try {
  const file = join(dir, 'known_hosts');
  const out = createWriteStream(file);
  const pins = Number(pinsText);
  const date = '2099-01-01T00:00:00.000Z';
  for (let i = 0; i < pins; i++) {
    if (!out.write(`h-${i}.example:1965 ${FP(i)} ${date} 2024-01-01T00:00:00.000Z\n`)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
  console.log(`# ${pins} pins, ${(statSync(file).size / 1e6).toFixed(0)} MB, module ${modulePath}`);
  for (const s of ['verify-pinned', 'get-unknown', 'add']) {
    process.stdout.write(execFileSync(process.execPath, [process.argv[1], pinsText, modulePath, s], { env: { ...process.env, KH_FILE: file } }));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
