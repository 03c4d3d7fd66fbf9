/**
 * Regression tests for two CLI output defects:
 * - UTF-16/32 and code page 437 bodies shown on a terminal were held whole
 *   until the body ended (unbounded memory, nothing shown for an endless
 *   body): they are now decoded incrementally;
 * - the `.partial` file was opened in place with O_TRUNC, so a hard link
 *   planted at NAME.partial let the server overwrite the linked file: the
 *   body now goes to a new file that replaces the NAME.partial entry.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBody } from '../src/charset.js';
import { OutputFile, PARTIAL_SUFFIX } from '../src/cli/output-file.js';
import { createStreamDecoder, SNIFF_LIMIT } from '../src/cli/stream-decoder.js';
import { TerminalBodyWriter } from '../src/cli/terminal-output.js';
import { dribble, respondWith, routes, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { ptyAvailable, requireBuild, runCli, runInPty, tempDir } from './cli-helpers.js';

const TEXT = 'Aé€\n😀 ok\r\nƒ—z\n';

function utf16(text: string, bigEndian: boolean): Buffer {
  const le = Buffer.from(text, 'utf16le');
  return bigEndian ? Buffer.from(le).swap16() : le;
}

function utf32(text: string, littleEndian: boolean): Buffer {
  const codePoints = [...text].map((c) => c.codePointAt(0)!);
  const out = Buffer.alloc(codePoints.length * 4);
  codePoints.forEach((cp, i) => (littleEndian ? out.writeUInt32LE(cp, i * 4) : out.writeUInt32BE(cp, i * 4)));
  return out;
}

/** Decodes `body` through a stream decoder, cut at the given offsets. */
function decodeInPieces(charset: string | undefined, body: Uint8Array, cuts: number[]): string {
  const decoder = createStreamDecoder(charset);
  let text = '';
  let start = 0;
  for (const cut of [...cuts, body.length]) {
    text += decoder.write(body.subarray(start, cut));
    start = cut;
  }
  return text + decoder.end();
}

const CASES: Array<[string, string, Buffer]> = [
  ['utf-16le with BOM', 'utf-16le', Buffer.concat([Buffer.from([0xff, 0xfe]), utf16(TEXT, false)])],
  ['utf-16le without BOM', 'utf-16le', utf16(TEXT, false)],
  ['utf-16be with BOM', 'utf-16be', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16(TEXT, true)])],
  ['utf-16be without BOM', 'utf-16be', utf16(TEXT, true)],
  ['utf-16 with a big-endian BOM', 'utf-16', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16(TEXT, true)])],
  ['utf-32le with BOM', 'utf-32le', utf32(`\ufeff${TEXT}`, true)],
  ['utf-32be without BOM', 'utf-32be', utf32(TEXT, false)],
  ['utf-32 with a little-endian BOM', 'utf-32', utf32(`\ufeff${TEXT}`, true)],
  ['cp437', 'cp437', Buffer.from([0x41, 0x80, 0x0a, 0xb0, 0xdb, 0xe3, 0xff, 0x0a])],
  ['iso-8859-1 (windows-1252)', 'ISO-8859-1', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x80, 0x93, 0x94, 0x0a])],
  ['utf-16le declared, UTF-8 sent', 'utf-16le', Buffer.from(TEXT)],
];

describe('stream decoder', () => {
  it.each(CASES)('%s: decodes like decodeBody, cut at any one or two places', (_name, charset, body) => {
    const expected = decodeBody(body, charset).text;
    expect(expected.length).toBeGreaterThan(0);
    for (let i = 0; i <= body.length; i++) {
      for (let j = i; j <= body.length; j++) expect(decodeInPieces(charset, body, [i, j])).toBe(expected);
    }
    const byteByByte = Array.from({ length: body.length }, (_, k) => k);
    expect(decodeInPieces(charset, body, byteByByte)).toBe(expected);
  });

  it('puts a UTF-16 surrogate pair split between chunks back together', () => {
    const body = utf16('x😀y', false); // 78 00 | 3d d8 | 00 de | 79 00
    for (const cuts of [[3], [4], [5], [3, 5], [2, 4, 6]]) expect(decodeInPieces('utf-16le', body, cuts)).toBe('x😀y');
    const decoder = createStreamDecoder('utf-16le');
    expect(decoder.write(body.subarray(0, 4))).toBe('x'); // the high surrogate is held, not shown as U+FFFD
    expect(decoder.write(body.subarray(4))).toBe('😀y');
    expect(decoder.end()).toBe('');
  });

  it('turns an incomplete character at the end into U+FFFD', () => {
    expect(decodeInPieces('utf-16le', Buffer.from([0xff, 0xfe, 0x41, 0x00, 0x42]), [3])).toBe('A\ufffd');
    expect(decodeInPieces('utf-32be', Buffer.from([0, 0, 0, 0x41, 0, 0]), [5])).toBe('A\ufffd');
    expect(decodeInPieces('utf-32le', Buffer.from([0, 0xd8, 0, 0, 0x42, 0, 0, 0]), [1])).toBe('\ufffdB');
  });

  it.each([
    ['utf-16le', (s: string) => utf16(s, false)],
    ['utf-16be', (s: string) => utf16(s, true)],
    ['utf-32le', (s: string) => utf32(s, true)],
    ['utf-32be', (s: string) => utf32(s, false)],
    ['cp437', (s: string) => Buffer.from(s, 'latin1')],
  ])('%s: each chunk comes out as it goes in (nothing accumulates)', (charset, encode) => {
    const line = 'a line of text, again and again\n';
    const chunk = encode(line.repeat(64));
    const decoder = createStreamDecoder(charset);
    expect(decoder.encoding).not.toBe('utf-8');
    for (let i = 0; i < 200; i++) expect(decoder.write(chunk)).toBe(line.repeat(64));
    expect(decoder.end()).toBe('');
  });

  it('settles a body declared UTF-16 at once when it is UTF-16, within SNIFF_LIMIT bytes when it is UTF-8', () => {
    const real = createStreamDecoder('utf-16le');
    expect(real.write(utf16('hi\n', false))).toBe('hi\n');
    expect(real.encoding).toBe('utf-16le');

    const mislabelled = createStreamDecoder('utf-16le');
    const utf8Line = Buffer.from('plain UTF-8 text, déjà vu\n');
    let shown = '';
    let written = 0;
    while (written < SNIFF_LIMIT) {
      shown += mislabelled.write(utf8Line);
      written += utf8Line.length;
    }
    expect(mislabelled.encoding).toBe('utf-8');
    expect(shown).toBe('plain UTF-8 text, déjà vu\n'.repeat(Math.ceil(SNIFF_LIMIT / utf8Line.length)));
  });

  it('the terminal writer shows UTF-16 lines before the body ends', () => {
    const writer = new TerminalBodyWriter({ charset: 'utf-16le', gemtext: false, width: 80, color: false });
    const body = Buffer.concat([Buffer.from([0xff, 0xfe]), utf16('first line\nsecond li', false)]);
    expect(writer.write(body.subarray(0, 9))).toBe(''); // no whole line yet
    expect(writer.write(body.subarray(9))).toBe('first line\n');
    expect(writer.write(utf16('ne\nthird', false))).toBe('second line\n');
    expect(writer.end()).toBe('third\n');
  });
});

describe('output file', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A directory `out` with a hard link `out/NAME.partial` to `outside/victim`; returns their paths. */
  function plantHardLink(): { dir: string; finalPath: string; victim: string } {
    const root = tempDir('gemfetch-output-');
    dirs.push(root);
    const dir = path.join(root, 'out');
    fs.mkdirSync(dir);
    fs.mkdirSync(path.join(root, 'outside'));
    const victim = path.join(root, 'outside', 'victim');
    fs.writeFileSync(victim, 'precious');
    const finalPath = path.join(dir, 'page.gmi');
    fs.linkSync(victim, finalPath + PARTIAL_SUFFIX);
    return { dir, finalPath, victim };
  }

  it.each([false, true])('a hard link at NAME.partial is replaced, its file left alone (complete: %s)', async (complete) => {
    const { dir, finalPath, victim } = plantHardLink();
    const file = await OutputFile.open(finalPath);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    await file.write(Buffer.from('from the server'));
    const result = await file.finish(complete);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    expect(fs.statSync(victim).nlink).toBe(1);
    expect(result).toEqual({ path: complete ? finalPath : finalPath + PARTIAL_SUFFIX, partial: !complete, bytes: 15 });
    expect(fs.readFileSync(result.path, 'utf8')).toBe('from the server');
    expect(fs.readdirSync(dir)).toEqual([path.basename(result.path)]); // no temporary file left
  });

  it('refuses a symbolic link at NAME.partial, leaving no file behind', async () => {
    const { dir, finalPath, victim } = plantHardLink();
    fs.rmSync(finalPath + PARTIAL_SUFFIX);
    fs.symlinkSync(victim, finalPath + PARTIAL_SUFFIX);
    await expect(OutputFile.open(finalPath)).rejects.toMatchObject({ code: 'ELOOP' });
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    expect(fs.readdirSync(dir)).toEqual(['page.gmi.partial']);
  });

  it('creates files with mode 0644 minus the umask, replacing an old NAME.partial', async () => {
    const { dir, finalPath } = plantHardLink();
    const file = await OutputFile.open(finalPath);
    await file.write(Buffer.from('body'));
    await file.finish(false);
    expect(fs.readFileSync(finalPath + PARTIAL_SUFFIX, 'utf8')).toBe('body');
    const reference = path.join(dir, 'reference');
    fs.closeSync(fs.openSync(reference, 'wx', 0o644));
    expect(fs.statSync(finalPath + PARTIAL_SUFFIX).mode & 0o777).toBe(fs.statSync(reference).mode & 0o777);
  });

  it('discard deletes the partial file; a NAME.partial replaced during the fetch is neither renamed nor deleted', async () => {
    const { dir, finalPath } = plantHardLink();
    const discarded = await OutputFile.open(finalPath);
    await discarded.discard();
    expect(fs.readdirSync(dir)).toEqual([]);

    const file = await OutputFile.open(finalPath);
    await file.write(Buffer.from('ours'));
    fs.rmSync(finalPath + PARTIAL_SUFFIX);
    fs.writeFileSync(finalPath + PARTIAL_SUFFIX, 'someone else');
    await expect(file.finish(true)).rejects.toThrow(/replaced/);
    expect(fs.existsSync(finalPath)).toBe(false);
    expect(fs.readFileSync(finalPath + PARTIAL_SUFFIX, 'utf8')).toBe('someone else');
  });
});

const hasPty = ptyAvailable();

describe('the gemfetch command', () => {
  let server: GeminiTestServer;
  let home: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    requireBuild();
    home = tempDir();
    dirs.push(home);
    server = await startGeminiServer({
      handler: routes({
        '/whole': respondWith('20 text/plain', 'whole body'),
        '/cut': respondWith('20 text/plain', 'cut body', 'fin'),
        '/utf16-endless': async (ctx) => {
          await ctx.write('20 text/plain; charset=utf-16le\r\n');
          await ctx.write(Buffer.concat([Buffer.from([0xff, 0xfe]), utf16('first line\nsecond line\n', false)]));
          // Then more lines, slowly, until the client goes away (bounded in case it never does).
          for (let i = 0; i < 400 && !ctx.closed; i++) {
            await new Promise((resolve) => setTimeout(resolve, 50).unref());
            await ctx.write(utf16(`filler ${i}\n`, false)).catch(() => {});
          }
        },
        '/utf16-dribble': async (ctx) => {
          await ctx.write('20 text/plain; charset=utf-16le\r\n');
          // One byte per write: every code unit and the surrogate pair are split between chunks.
          await dribble(ctx, Buffer.concat([Buffer.from([0xff, 0xfe]), utf16('Grüße 😀 done\n', false)]), 3);
        },
        '/utf32-dribble': async (ctx) => {
          await ctx.write('20 text/plain; charset=utf-32be\r\n');
          await dribble(ctx, utf32('Ünïcode 🎉 ok\n', false), 3, { chunkSize: 3 });
        },
      }),
    });
  });

  afterAll(async () => {
    await server?.close();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  function plant(): { finalPath: string; victim: string } {
    const root = tempDir('gemfetch-output-');
    dirs.push(root);
    const victim = path.join(root, 'victim');
    fs.writeFileSync(victim, 'precious');
    const finalPath = path.join(root, 'out', 'page.txt');
    fs.mkdirSync(path.dirname(finalPath));
    fs.linkSync(victim, finalPath + PARTIAL_SUFFIX);
    return { finalPath, victim };
  }

  it.concurrent('-o leaves the file behind a hard link at NAME.partial untouched, complete or not', async () => {
    const whole = plant();
    const r1 = await runCli(home, ['-o', whole.finalPath, server.url('/whole')]);
    expect(r1.code).toBe(0);
    expect(fs.readFileSync(whole.finalPath, 'utf8')).toBe('whole body');
    expect(fs.existsSync(whole.finalPath + PARTIAL_SUFFIX)).toBe(false);
    expect(fs.readFileSync(whole.victim, 'utf8')).toBe('precious');

    const cut = plant();
    const r2 = await runCli(home, ['-o', cut.finalPath, server.url('/cut')]);
    expect(r2.code).toBe(3);
    expect(fs.readFileSync(cut.finalPath + PARTIAL_SUFFIX, 'utf8')).toBe('cut body');
    expect(fs.existsSync(cut.finalPath)).toBe(false);
    expect(fs.readFileSync(cut.victim, 'utf8')).toBe('precious');
    expect(fs.readdirSync(path.dirname(cut.finalPath))).toEqual(['page.txt.partial']);
  });

  describe.skipIf(!hasPty).concurrent('on a terminal', () => {
    it('shows the first lines of an endless UTF-16 body while it is still coming (then Ctrl-C)', async () => {
      const { code, output } = await runInPty(home, ['--no-color', server.url('/utf16-endless')], {
        answers: [['second line', '\x03']],
        timeoutMs: 10_000,
      });
      expect(output).toContain('first line\r\nsecond line\r\n');
      expect(code).toBe(130); // interrupted by the Ctrl-C typed once the lines were seen, not ended by the server
    });

    it('decodes UTF-16 and UTF-32 bodies arriving a few bytes at a time', async () => {
      const [u16, u32] = await Promise.all([
        runInPty(home, ['--no-color', server.url('/utf16-dribble')]),
        runInPty(home, ['--no-color', server.url('/utf32-dribble')]),
      ]);
      expect(u16.code).toBe(0);
      expect(u16.output).toContain('Grüße 😀 done');
      expect(u16.output).not.toContain('\ufffd');
      expect(u32.code).toBe(0);
      expect(u32.output).toContain('Ünïcode 🎉 ok');
      expect(u32.output).not.toContain('\ufffd');
    });
  });
});
