// Start-up cost of each module, each measured in a fresh process (median of 5):
//   node test/bench/profile/import-time.js [specifier ...]
// Specifiers resolve from the repository root (so bare `yargs` works).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const specs = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ['node:tls', 'yargs', './dist/net/client.js', './dist/index.js', './dist/cli/commands/fetch.js', './dist/cli/main.js'];
const probe = (spec) => `const t0 = performance.now(); await import(${JSON.stringify(spec.startsWith('.') ? pathToFileURL(path.join(ROOT, spec)).href : spec)}); console.log(performance.now() - t0);`;
for (const spec of specs) {
  const samples = Array.from({ length: 5 }, () => Number(execFileSync(process.execPath, ['--input-type=module', '-e', probe(spec)], { cwd: ROOT, encoding: 'utf8' })));
  samples.sort((a, b) => a - b);
  console.log(`${spec.padEnd(32)} ${samples[2].toFixed(1)} ms`);
}
