// Summarises a V8 .cpuprofile (from node --cpu-prof): self time by file/package and top functions.
//   node test/bench/profile/summarize.js FILE.cpuprofile [topN]
import fs from 'node:fs';

const profile = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const top = Number(process.argv[3] ?? 15);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const where = (url) => {
  if (!url) return '(native/gc/idle)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm:${nm[1]}`;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/(\w+).*/, 'node:internal/$1');
  return url.replace(/^file:\/\/.*?\/(dist|test)\//, '$1/');
};
const files = new Map();
const fns = new Map();
for (const [id, us] of self) {
  const n = byId.get(id);
  const f = where(n.callFrame.url);
  files.set(f, (files.get(f) ?? 0) + us);
  const key = `${n.callFrame.functionName || '(anonymous)'} ${f}:${n.callFrame.lineNumber + 1}`;
  fns.set(key, (fns.get(key) ?? 0) + us);
}
const show = (title, map) => {
  console.log(`\n${title} (of ${(total / 1000).toFixed(0)} ms sampled)`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(us / 1000).toFixed(1).padStart(8)} ms ${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
};
show('self time by file', files);
show('self time by function', fns);
