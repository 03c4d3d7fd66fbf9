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
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { OutputFile, PARTIAL_SUFFIX } from '../src/cli/output-file.js';
import { TerminalBodyWriter } from '../src/cli/terminal-output.js';
import { dribble, respondWith, routes } from './support/gemini-server.js';
import { cliFixture, ptyAvailable, runCli, runInPty, scratchDirs } from './support/cli.js';


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

/**
 * Mounts a tmpfs of `bytes` at a new directory (a full disk, for real write
 * errors); undefined where mounting is not permitted (not root, or a container
 * without CAP_SYS_ADMIN).
 */
function mountTinyDisk(root: string, bytes: number): string | undefined {
  const dir = path.join(root, 'tiny');
  fs.mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
}

function unmount(dir: string | undefined): void {
  if (dir) execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
}

const canMount = ((): boolean => {
  const root = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'gemfetch-mount-'));
  const dir = mountTinyDisk(root, 64 * 1024);
  unmount(dir);
  fs.rmSync(root, { recursive: true, force: true });
  return dir !== undefined;
})();

// The decoder itself is tested in charset.test.ts; here, only its use on a terminal.
describe('terminal body writer', () => {
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
  const scratch = scratchDirs();

  /** A directory `out` with a hard link `out/NAME.partial` to `outside/victim`; returns their paths. */
  function plantHardLink(): { dir: string; finalPath: string; victim: string } {
    const root = scratch('gemfetch-output-');
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

  it.skipIf(!canMount)('a full disk: the write error reaches the caller and nothing is renamed', async () => {
    const disk = mountTinyDisk(scratch('gemfetch-output-'), 256 * 1024);
    try {
      const finalPath = path.join(disk!, 'page.bin');
      const file = await OutputFile.open(finalPath);
      let failed: unknown;
      for (let i = 0; i < 64 && !failed; i++) await file.write(Buffer.alloc(16 * 1024, 1)).catch((err: unknown) => (failed = err));
      if (!failed) failed = await file.finish(true).catch((err: unknown) => err);
      expect(failed).toMatchObject({ code: 'ENOSPC' });
      await file.discard();
      expect(fs.existsSync(finalPath)).toBe(false);
    } finally {
      unmount(disk);
    }
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
  const scratch = scratchDirs();
  const cli = cliFixture(
    routes({
      '/whole': respondWith('20 text/plain', 'whole body'),
      '/cut': respondWith('20 text/plain', 'cut body', 'fin'),
      '/big': respondWith('20 application/octet-stream', Buffer.alloc(1024 * 1024, 7)),
      // Replaces the client's NAME.partial (path in the query) mid-body, then ends the body whole.
      '/replaced-partial': async (ctx) => {
        const partial = decodeURIComponent(ctx.url!.search.slice(1)) + PARTIAL_SUFFIX;
        await ctx.write('20 text/plain\r\nfirst half, ');
        for (let i = 0; i < 200 && !(fs.existsSync(partial) && fs.statSync(partial).size > 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
        fs.rmSync(partial, { force: true });
        fs.writeFileSync(partial, 'someone else');
        await ctx.write('second half');
        ctx.endWithCloseNotify();
      },
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
  );

  function plant(): { finalPath: string; victim: string } {
    const root = scratch('gemfetch-output-');
    const victim = path.join(root, 'victim');
    fs.writeFileSync(victim, 'precious');
    const finalPath = path.join(root, 'out', 'page.txt');
    fs.mkdirSync(path.dirname(finalPath));
    fs.linkSync(victim, finalPath + PARTIAL_SUFFIX);
    return { finalPath, victim };
  }

  it.concurrent('-o leaves the file behind a hard link at NAME.partial untouched, complete or not', async () => {
    const whole = plant();
    const r1 = await runCli(cli.home, ['-o', whole.finalPath, cli.server.url('/whole')]);
    expect(r1.code).toBe(0);
    expect(fs.readFileSync(whole.finalPath, 'utf8')).toBe('whole body');
    expect(fs.existsSync(whole.finalPath + PARTIAL_SUFFIX)).toBe(false);
    expect(fs.readFileSync(whole.victim, 'utf8')).toBe('precious');

    const cut = plant();
    const r2 = await runCli(cli.home, ['-o', cut.finalPath, cli.server.url('/cut')]);
    expect(r2.code).toBe(3);
    expect(fs.readFileSync(cut.finalPath + PARTIAL_SUFFIX, 'utf8')).toBe('cut body');
    expect(fs.existsSync(cut.finalPath)).toBe(false);
    expect(fs.readFileSync(cut.victim, 'utf8')).toBe('precious');
    expect(fs.readdirSync(path.dirname(cut.finalPath))).toEqual(['page.txt.partial']);
  });

  it.skipIf(!canMount)('-o on a full disk: exit 1 naming the file, the bytes written kept as .partial, ERR_OUTPUT in the record', async () => {
    const disk = mountTinyDisk(scratch('gemfetch-output-'), 256 * 1024);
    try {
      const finalPath = path.join(disk!, 'big.bin');
      const r = await runCli(cli.home, ['--json', '-o', finalPath, cli.server.url('/big')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot write ${finalPath}.partial`);
      expect(r.stderr).toMatch(/ENOSPC|no space/i);
      expect(JSON.parse(r.stdout.toString().trim()).error).toMatchObject({ code: 'ERR_OUTPUT' });
      expect(fs.existsSync(finalPath)).toBe(false);
      expect(fs.statSync(finalPath + PARTIAL_SUFFIX).size).toBeGreaterThan(0);
    } finally {
      unmount(disk);
    }
  });

  it('-o: a NAME.partial replaced during the fetch is neither renamed nor reported complete: exit 1, ERR_OUTPUT in the record', async () => {
    const finalPath = path.join(scratch('gemfetch-output-'), 'page.txt');
    const r = await runCli(cli.home, ['--json', '-o', finalPath, cli.server.url(`/replaced-partial?${encodeURIComponent(finalPath)}`)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('replaced');
    const record = JSON.parse(r.stdout.toString().trim());
    expect(record.complete).toBe(true); // the response itself arrived whole
    expect(record.error).toMatchObject({ code: 'ERR_OUTPUT' });
    expect(fs.existsSync(finalPath)).toBe(false);
    expect(fs.readFileSync(finalPath + PARTIAL_SUFFIX, 'utf8')).toBe('someone else');
  });

  describe.skipIf(!hasPty).concurrent('on a terminal', () => {
    it('shows the first lines of an endless UTF-16 body while it is still coming (then Ctrl-C)', async () => {
      const { code, output } = await runInPty(cli.home, ['--no-color', cli.server.url('/utf16-endless')], {
        answers: [['second line', '\x03']],
        timeoutMs: 10_000,
      });
      expect(output).toContain('first line\r\nsecond line\r\n');
      expect(code).toBe(130); // interrupted by the Ctrl-C typed once the lines were seen, not ended by the server
    });

    it('decodes UTF-16 and UTF-32 bodies arriving a few bytes at a time', async () => {
      const [u16, u32] = await Promise.all([
        runInPty(cli.home, ['--no-color', cli.server.url('/utf16-dribble')]),
        runInPty(cli.home, ['--no-color', cli.server.url('/utf32-dribble')]),
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

/**
 * Regression tests for saved files (issues 9 and 10): -O/--output-dir never
 * overwrite (NAME.N), every record says where its bytes are (savedPath),
 * -o DIR is refused before fetching, --allow-incomplete keeps the cut body in
 * NAME.partial, names from URLs are visible and shell-safe, and directories
 * that can never be created (under /proc) fail at once instead of spinning.
 */
describe('saved files', () => {
  const scratch = scratchDirs();
  const cli = cliFixture(
    routes({
      '/sub/page.gmi': respondWith('20 text/gemini', '# the sub page\n'),
      '/page.gmi': respondWith('20 text/gemini', '# the top page\n'),
      '/cut': respondWith('20 text/plain', 'cut body', 'fin'),
      '/-rf': respondWith('20 text/plain', 'dash'),
      '/.hidden': respondWith('20 text/plain', 'dot'),
      '/a%E2%80%AEtxt.exe': respondWith('20 text/plain', 'bidi'),
      '/x.gmi.partial': respondWith('20 text/plain', 'whole, despite its name'),
      // Creates the final name (directory in the query) once the client's .partial has bytes, then ends the body whole.
      '/taken.txt': async (ctx) => {
        const dir = decodeURIComponent(ctx.url!.search.slice(1));
        await ctx.write('20 text/plain\r\nfirst half, ');
        const partial = path.join(dir, 'taken.txt.partial');
        for (let i = 0; i < 200 && !(fs.existsSync(partial) && fs.statSync(partial).size > 0); i++) await new Promise((resolve) => setTimeout(resolve, 10));
        fs.writeFileSync(path.join(dir, 'taken.txt'), 'someone else');
        await ctx.write('second half');
        ctx.endWithCloseNotify();
      },
    }),
  );
  const records = (stdout: Buffer): Array<Record<string, unknown>> =>
    stdout
      .toString()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it.concurrent('--output-dir: two URLs with one name give NAME and NAME.1; a file from before the run is kept; savedPath says where', async () => {
    const dir = scratch('gemfetch-saved-');
    fs.writeFileSync(path.join(dir, 'page.gmi'), 'from before the run');
    const r = await runCli(cli.home, ['--json', '--output-dir', dir, cli.server.url('/sub/page.gmi'), cli.server.url('/page.gmi')]);
    expect(r.code).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['page.gmi', 'page.gmi.1', 'page.gmi.2']);
    expect(fs.readFileSync(path.join(dir, 'page.gmi'), 'utf8')).toBe('from before the run');
    expect(fs.readFileSync(path.join(dir, 'page.gmi.1'), 'utf8')).toBe('# the sub page\n');
    expect(fs.readFileSync(path.join(dir, 'page.gmi.2'), 'utf8')).toBe('# the top page\n');
    expect(records(r.stdout).map((record) => record.savedPath)).toEqual([path.join(dir, 'page.gmi.1'), path.join(dir, 'page.gmi.2')]);
    expect(r.stderr).toContain(`${path.join(dir, 'page.gmi')} already exists`);
    expect(r.stderr).toContain(`saved ${cli.server.url('/page.gmi')} as ${path.join(dir, 'page.gmi.2')}`);
  });

  it.concurrent('-O (in the working directory) does the same: savedPath is the file written', async () => {
    const dir = scratch('gemfetch-saved-');
    const r = await runCli(cli.home, ['--json', '-O', cli.server.url('/sub/page.gmi'), cli.server.url('/page.gmi')], { cwd: dir });
    expect(r.code).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['page.gmi', 'page.gmi.1']);
    expect(fs.readFileSync(path.join(dir, 'page.gmi.1'), 'utf8')).toBe('# the top page\n');
    expect(records(r.stdout).map((record) => path.basename(String(record.savedPath)))).toEqual(['page.gmi', 'page.gmi.1']);
  });

  it.concurrent('--output-dir: a file created at the final name during the fetch is not replaced; the body stays in .partial, savedPath says so', async () => {
    const dir = scratch('gemfetch-saved-');
    const r = await runCli(cli.home, ['--json', '--output-dir', dir, cli.server.url(`/taken.txt?${encodeURIComponent(dir)}`)]);
    expect(r.code).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'taken.txt'), 'utf8')).toBe('someone else');
    expect(fs.readFileSync(path.join(dir, 'taken.txt.partial'), 'utf8')).toBe('first half, second half');
    expect(fs.readdirSync(dir).sort()).toEqual(['taken.txt', 'taken.txt.partial']);
    expect(r.stderr).toContain('appeared during the fetch');
    expect(records(r.stdout)[0]).toMatchObject({ complete: true, error: { code: 'ERR_OUTPUT' }, savedPath: path.join(dir, 'taken.txt.partial') });
  });

  it.concurrent('-o FILE: savedPath is FILE (a file named by the user is replaced, as curl -o does)', async () => {
    const file = path.join(scratch('gemfetch-saved-'), 'mine.gmi');
    fs.writeFileSync(file, 'old');
    const r = await runCli(cli.home, ['--json', '-o', file, cli.server.url('/page.gmi')]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe('# the top page\n');
    expect(records(r.stdout)[0]!.savedPath).toBe(file);
  });

  it.concurrent('-o DIR (an existing directory) is refused before fetching: clear message, exit 2, no DIR.partial left', async () => {
    const parent = scratch('gemfetch-saved-');
    const dir = path.join(parent, 'existing');
    fs.mkdirSync(dir);
    const before = cli.server.requests.length;
    const r = await runCli(cli.home, ['-o', dir, cli.server.url('/page.gmi?dir')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid value (-o ${dir}): that is a directory`);
    expect(r.stderr).not.toMatch(/EISDIR|rename|\n\s+at /);
    expect(fs.readdirSync(parent)).toEqual(['existing']);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(cli.server.requests.slice(before).filter((line) => line.endsWith('?dir'))).toEqual([]);
  });

  // Without the check: the page was fetched, then a raw "EISDIR ... rename" message, exit 1.
  it.concurrent('-o FILE where FILE.partial is a directory is refused before fetching: clear message, exit 2, nothing left behind', async () => {
    const parent = scratch('gemfetch-saved-');
    const file = path.join(parent, 'f.txt');
    fs.mkdirSync(`${file}.partial`);
    const r = await runCli(cli.home, ['-o', file, cli.server.url(`/page.gmi?${encodeURIComponent(parent)}`)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}.partial is a directory, and the body is written there first (-o ${file})`);
    expect(r.stderr).not.toMatch(/EISDIR|rename|\n\s+at /);
    expect(fs.readdirSync(parent)).toEqual(['f.txt.partial']);
    expect(cli.server.requests.filter((line) => line.includes(encodeURIComponent(parent)))).toEqual([]);
  });

  it.concurrent('--allow-incomplete -o FILE: exit 0, the cut body stays in FILE.partial (never FILE), stderr and savedPath say so', async () => {
    const file = path.join(scratch('gemfetch-saved-'), 'cut.txt');
    const r = await runCli(cli.home, ['--json', '--allow-incomplete', '-o', file, cli.server.url('/cut')]);
    expect(r.code).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readFileSync(`${file}.partial`, 'utf8')).toBe('cut body');
    expect(r.stderr).toContain(`the incomplete body is in ${file}.partial (not ${file}:`);
    expect(records(r.stdout)[0]).toMatchObject({ complete: false, savedPath: `${file}.partial` });
  });

  it.concurrent('-O names are visible and shell-safe: no leading - or ., no bidi override, no complete file named .partial', async () => {
    const dir = scratch('gemfetch-saved-');
    const urls = ['/-rf', '/.hidden', '/a%E2%80%AEtxt.exe', '/x.gmi.partial'].map((p) => cli.server.url(p));
    const r = await runCli(cli.home, ['--json', '--output-dir', dir, ...urls]);
    expect(r.code).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['_hidden', '_rf', 'a_txt.exe', 'x.gmi_partial']);
    expect(fs.readFileSync(path.join(dir, '_rf'), 'utf8')).toBe('dash');
    expect(fs.readFileSync(path.join(dir, 'a_txt.exe'), 'utf8')).toBe('bidi');
    expect(records(r.stdout).map((record) => path.basename(String(record.savedPath)))).toEqual(['_rf', '_hidden', 'a_txt.exe', 'x.gmi_partial']);
  });

  /** Starts `cat FIFO` (an independent reader); resolves with what it read once the writer side closes. */
  const readFifo = (fifo: string): { done: Promise<string>; stop: () => void } => {
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise<string>((resolve) => reader.on('close', () => resolve(Buffer.concat(chunks).toString('utf8'))));
    return { done, stop: () => reader.kill('SIGKILL') };
  };

  // Without writing straight into it, the FIFO (like /dev/null for root) was replaced by a regular file, and its reader never got a byte.
  it.concurrent.each([
    ['/page.gmi', 0, true, '# the top page\n'],
    ['/cut', 3, false, 'cut body'],
  ])('-o FIFO (%s): the body goes through the pipe, which stays a pipe; no .partial; the verdict is in the exit code and record', async (route, code, complete, body) => {
    const dir = scratch('gemfetch-saved-');
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = readFifo(fifo);
    try {
      const r = await runCli(cli.home, ['--json', '-o', fifo, cli.server.url(route)]);
      expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
      expect(fs.readdirSync(dir)).toEqual(['pipe']);
      expect(r.code).toBe(code);
      expect(records(r.stdout)[0]).toMatchObject({ complete, savedPath: fifo });
      expect(await reader.done).toBe(body);
    } finally {
      reader.stop();
    }
  });

  // Reached through a link in a scratch directory: without the fix, the rename replaces only that link, never /dev/tty itself.
  it.runIf(ptyAvailable())('-o naming a terminal is refused before fetching (raw bytes never reach it): exit 2', async () => {
    const terminal = path.join(scratch('gemfetch-saved-'), 'terminal');
    fs.symlinkSync('/dev/tty', terminal);
    const before = cli.server.requests.length;
    const r = await runInPty(cli.home, ['-o', terminal, cli.server.url('/page.gmi?tty')]);
    expect(r.code).toBe(2);
    expect(r.output).toContain(`invalid value (-o ${terminal}): that is a terminal`);
    expect(fs.lstatSync(terminal).isSymbolicLink()).toBe(true);
    expect(cli.server.requests.slice(before).filter((line) => line.endsWith('?tty'))).toEqual([]);
  });

  describe.skipIf(!fs.existsSync('/proc/1/status'))('a directory that cannot be created (under /proc)', () => {
    // Node's recursive mkdir loops forever there: each run is killed after 10 s without the fix.
    it.concurrent.each([
      ['-o', ['-o', '/proc/1/gemfetch-x/y'], '-o /proc/1/gemfetch-x/y: cannot create the directory /proc/1/gemfetch-x'],
      ['--output-dir', ['--output-dir', '/proc/1/gemfetch-x'], '--output-dir /proc/1/gemfetch-x: cannot create the directory /proc/1/gemfetch-x'],
    ])('%s fails at once, exit 1, naming the option and the directory', async (_option, args, message) => {
      const r = await runCli(cli.home, [...args, cli.server.url('/page.gmi')], { timeoutMs: 10_000 });
      expect(r.signal).toBeNull();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    it.concurrent('crawl --state fails at once, exit 1, naming the directory', async () => {
      const r = await runCli(cli.home, ['crawl', '--state', '/proc/1/gemfetch-x', '--delay', '0', cli.server.url('/page.gmi')], { timeoutMs: 10_000 });
      expect(r.signal).toBeNull();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('cannot create the directory /proc/1/gemfetch-x');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  });
});
