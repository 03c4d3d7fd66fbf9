// Heap cost of reading a crawl journal back (test/crawl-resume.test.ts; run with --expose-gc):
//   node --expose-gc journal-load.js DIR PENDING DONE
// Writes a journal of PENDING + DONE queued URLs (DONE of them with a record) into DIR, then opens
// it into a Frontier and takes the pending URLs out one by one. Prints {heapGrowth, pending, handedOut, ms} where
// heapGrowth is the JS heap (after GC) held with the journal open and its pending URLs handed out
// (counted, not kept), against before opening.
import fs from 'node:fs';
import path from 'node:path';
import { CrawlJournal } from '../../../dist/bulk/crawl-state.js';
import { Frontier } from '../../../dist/bulk/frontier.js';

const [dir, pendingArg, doneArg] = process.argv.slice(2);
const pending = Number(pendingArg);
const done = Number(doneArg);
fs.mkdirSync(dir, { recursive: true });
const out = fs.openSync(path.join(dir, 'journal.ndjson'), 'w');
let text = '';
const flush = () => {
  fs.writeSync(out, text);
  text = '';
};
for (let i = 0; i < pending + done; i++) {
  text += `${JSON.stringify({ q: `gemini://c${i % 4000}.gemini.test/p/${i}`, d: 1, p: `gemini://c${i % 4000}.gemini.test/` })}\n`;
  if (i < done) text += `${JSON.stringify({ r: { url: `gemini://c${i % 4000}.gemini.test/p/${i}`, status: 20, attempts: 1, duplicateOf: null, sha256: null } })}\n`;
  if (text.length > 1 << 20) flush();
}
flush();
fs.closeSync(out);
globalThis.gc();
const before = process.memoryUsage().heapUsed;
const t0 = performance.now();
const frontier = new Frontier({ dir });
const { journal, contents } = await CrawlJournal.open(dir, undefined, frontier);
let handedOut = 0;
for (const host of frontier.hostQueues()) while (host.shift() !== undefined) handedOut++;
frontier.close();
const ms = performance.now() - t0;
globalThis.gc();
const heapGrowth = process.memoryUsage().heapUsed - before;
journal.close();
process.stdout.write(JSON.stringify({ heapGrowth, pending: contents.pendingCount, handedOut, ms, keep: contents.seen.size }) + '\n');
