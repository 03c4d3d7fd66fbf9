// Case 7 (issue 9): rendering text/gemini for a terminal, run as its own process.
//   node render.js '{"runs":N}'
// For each page: CPU ms of renderGemtext (width 80, colour) against a baseline that only decodes
// the UTF-8 bytes and splits the lines, interleaved (A B A B ...), after one warm-up of each.
// Prints {"pages":[{"name","bytes","render":[ms...],"baseline":[ms...]}]} on stdout.
import { renderGemtext } from '../../../dist/cli/render.js';

const o = { runs: 5, ...JSON.parse(process.argv[2] ?? '{}') };

/** One long word: precomposed and combining accents, CJK, an emoji (the segmenter's work). */
const WORD_UNIT = `${'é'.repeat(50)}e\u0301日👍`;
const word = (bytes) => WORD_UNIT.repeat(Math.round(bytes / Buffer.byteLength(WORD_UNIT)));

/** A typical page: headings, paragraphs, lists, quotes, links, preformatted text; about `bytes` bytes. */
function normalPage(bytes) {
  const block = [
    '## A section heading',
    'Gemini is a new internet communication protocol for accessing remote documents, similar to HTTP and Gopher. Lines of text are wrapped by the client — café, naïve, 日本語のテキスト.',
    '* a list item that is long enough to be wrapped on an eighty-column terminal, with a-hyphenated-word',
    '> a quoted line, also long enough to wrap once it is shown on a terminal of eighty columns or fewer',
    '=> gemini://example.org/cgi-bin/search-the-whole-archive.cgi Search the whole archive of this capsule',
    '=> /relative/link.gmi',
    '```ascii art',
    '  +-----+   preformatted text is never wrapped',
    '```',
    '',
  ].join('\n');
  return `# A normal page\n${block.repeat(Math.ceil(bytes / Buffer.byteLength(block)))}`;
}

const pages = [
  ['one 64 KB word', `# Word\n${word(64 * 1024)}\n`],
  ['one 256 KB word', `# Word\n${word(256 * 1024)}\n`],
  ['one 1 MB word', `# Word\n${word(1024 * 1024)}\n`],
  ['normal 1 MB page', normalPage(1024 * 1024)],
];

const cpuMs = (f) => {
  const before = process.cpuUsage();
  f();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
};

const decoder = new TextDecoder();
const render = (bytes) => renderGemtext(decoder.decode(bytes), { width: 80, color: true });
const baseline = (bytes) => decoder.decode(bytes).split(/\r?\n/);

const out = [];
for (const [name, text] of pages) {
  const bytes = Buffer.from(text);
  render(bytes);
  baseline(bytes);
  const r = { name, bytes: bytes.length, render: [], baseline: [] };
  for (let i = 0; i < o.runs; i++) {
    r.render.push(cpuMs(() => render(bytes)));
    r.baseline.push(cpuMs(() => baseline(bytes)));
  }
  out.push(r);
}
console.log(JSON.stringify({ pages: out }));
