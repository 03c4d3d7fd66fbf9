/**
 * The real `gemfetch` command on a pseudo-terminal (python3's pty module):
 * rendering, sanitising, colours, charsets, the input prompt, progress.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { dribble, inputPrompt, respondWith, routes, type RequestContext } from './support/gemini-server.js';
import { BIN, childEnv, cliFixture, escapeSequences, ptyAvailable, ROOT, runInPty, tempDir } from './support/cli.js';

const EVIL = [
  '# Welcome\x1b]0;pwned-title\x07',
  '',
  'Plain text \x1b[2J\x1b[Hcleared? \u009b31mred\u009b0m and \x1b[5mblink.',
  'Hidden \x1bPdcs-payload\x1b\\ here and bidi \u202egnp.exe\u202c.',
  '* item \x1b[31mone\x1b[0m',
  '> quote \x07bell',
  '=> gemini://example.org/ A link \x1b[8mhidden\x1b[0m',
  '```alt \x1b[1m',
  'pre \x1b]52;c;Y2xpcGJvYXJk\x07 line',
  '```',
  'A long line that has to be wrapped because it is much longer than forty columns of terminal width.',
].join('\n');

/** One long word: precomposed and combining accents, CJK (2 columns), an astral emoji (2 columns). */
const WORD_UNIT = `${'é'.repeat(50)}e\u0301日👍`;
const MEGABYTE_WORD = WORD_UNIT.repeat(Math.ceil((1 << 20) / WORD_UNIT.length));
/** Terminal columns of text made of WORD_UNIT characters, counted without our width code. */
const columnsOf = (line: string): number => [...line.replace(/\p{M}/gu, '')].length + (line.match(/[日👍]/gu)?.length ?? 0);
const LONG_URL = 'gemini://example.org/cgi-bin/search-the-whole-archive.cgi';

/** Writes lines of 256 KB words until the client goes away (or, as a bound, 1 GB). */
async function endlessWords(ctx: RequestContext): Promise<void> {
  await ctx.write('20 text/gemini\r\n');
  const line = Buffer.from(`${MEGABYTE_WORD.slice(0, 1 << 18)}\n`);
  for (let sent = 0; sent < 2 ** 30 && !ctx.closed; sent += line.length) await ctx.write(line).catch(() => {});
}

const hasPty = ptyAvailable();
const hasScript = fs.existsSync('/usr/bin/script');
const cli = cliFixture(
  routes({
    '/evil': respondWith('20 text/gemini', EVIL),
    '/plain': respondWith('20 text/plain', 'line one\x1b[2J\nline two\n'),
    '/latin1': respondWith('20 text/plain; charset=ISO-8859-1', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])),
    '/utf16': respondWith('20 text/gemini; charset=utf-16le', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('# Grüße\n', 'utf16le')])),
    '/klingon': respondWith('20 text/plain; charset=x-klingon', 'qapla\n'),
    '/euc-jp': async (ctx) => {
      // Issue 9: an invalid three-byte sequence split between two TLS records made the decoder throw.
      // Sent a few times, a pause between records, so that the client reads the two halves apart.
      await ctx.write('20 text/plain; charset=euc-jp\r\n');
      for (let i = 0; i < 4; i++) {
        await ctx.write(Buffer.concat([Buffer.from('before '), Buffer.from([0x8f, 0xe2])]));
        await sleep(50);
        await ctx.write(Buffer.from([0x8b])); // Node's streaming decoder threw when a chunk held just this byte
        await ctx.write(Buffer.concat([Buffer.from(' after '), Buffer.from([0xa4, 0xa2, 0x0a])]));
      }
      ctx.end('close_notify');
    },
    '/image': respondWith('20 image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x1b, 0x5b, 0x32, 0x4a])),
    '/cut': respondWith('20 text/gemini', '# Cut\nhalf a sen', 'fin'),
    '/huge-word': respondWith('20 text/gemini', `# Huge\n${MEGABYTE_WORD}\nafter the word\n`),
    '/endless-words': endlessWords,
    '/cgi-link': respondWith('20 text/gemini', `=> ${LONG_URL} Search the whole archive of this capsule\n`),
    '/input': inputPrompt('What is your name?'),
    '/secret': (ctx) => {
      const query = ctx.url?.search.slice(1) ?? '';
      if (query === '') return ctx.respond('11 Password?');
      return ctx.respond('20 text/plain', `got ${decodeURIComponent(query).length} characters\n`);
    },
    '/slow': async (ctx) => {
      await ctx.write('20 application/octet-stream\r\n');
      await dribble(ctx, Buffer.alloc(30, 0x61), 40);
    },
  }),
);

describe.skipIf(!hasPty).concurrent('on a terminal', () => {
  it('renders text/gemini and lets no escape sequence from the server through', async () => {
    const { code, output } = await runInPty(cli.home, [cli.server.url('/evil')], { cols: 40 });
    expect(code).toBe(0);
    expect(output).toContain('[1]');
    expect(output).toContain('gemini://example.org/');
    for (const seq of escapeSequences(output)) expect(seq).toMatch(/^\x1b\[[0-9;]*m$/); // only our own colours
    expect(output).not.toMatch(/[\x07\u009b\u202e]/);
    expect(output).not.toContain('pwned-title');
    expect(output).not.toContain('dcs-payload');
    expect(output).not.toContain('Y2xpcGJvYXJk');
    const textLines = output.replace(/\x1b\[[0-9;]*m/g, '').split('\r\n');
    // The page's text is wrapped; gemfetch's own notes on stderr (e.g. a first pin) are left to the terminal.
    const wrapped = textLines.filter((l) => !l.startsWith('pre ') && !l.startsWith('gemfetch: note: '));
    for (const line of wrapped) expect([...line].length).toBeLessThanOrEqual(40);
  });

  it('uses no colour at all with NO_COLOR or --no-color', async () => {
    for (const [args, env] of [[[cli.server.url('/evil')], { NO_COLOR: '1' }], [['--no-color', cli.server.url('/evil')], {}]] as const) {
      const { code, output } = await runInPty(cli.home, [...args], { env });
      expect(code).toBe(0);
      expect(output).not.toContain('\x1b');
      expect(output).toContain('[1]');
    }
  });

  it('--raw shows the gemtext source, still without escape sequences', async () => {
    const { output } = await runInPty(cli.home, ['--raw', cli.server.url('/evil')]);
    expect(output).toContain('=> gemini://example.org/ A link');
    expect(output).not.toContain('\x1b');
    expect(output).not.toMatch(/[\x07\u009b]/);
  });

  it('shows other text sanitized and decodes charsets', async () => {
    const plain = await runInPty(cli.home, [cli.server.url('/plain')]);
    expect(plain.output).toContain('line one\r\nline two');
    expect(plain.output).not.toContain('\x1b');
    expect((await runInPty(cli.home, [cli.server.url('/latin1')])).output).toContain('café');
    expect((await runInPty(cli.home, ['--no-color', cli.server.url('/utf16')])).output).toContain('Grüße');
  });

  it('shows a one-line explanation instead of a body in an unknown charset (exit 2), and the body as UTF-8 with --raw', async () => {
    const unknown = await runInPty(cli.home, [cli.server.url('/klingon')]);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain('its charset "x-klingon" is unknown');
    expect(unknown.output).toContain('--raw');
    expect(unknown.output).not.toContain('qapla');
    const raw = await runInPty(cli.home, ['--raw', cli.server.url('/klingon')]);
    expect(raw.code).toBe(0);
    expect(raw.output).toContain('unknown charset "x-klingon"');
    expect(raw.output).toContain('qapla');
  });

  it('shows a euc-jp page whose invalid sequence is split between records (issue 9: it exited 1)', async () => {
    const { code, output } = await runInPty(cli.home, [cli.server.url('/euc-jp')]);
    expect(output).not.toContain('not valid');
    expect(code).toBe(0);
    expect(output).toContain('before \uFFFD\uFFFD after \u3042'); // 0x8F 0xE2 0x8B as Node decodes them at once; 0xA4 0xA2 is あ
  });

  it('refuses to dump binary data on the terminal (exit 2) unless -o - is given', async () => {
    const refused = await runInPty(cli.home, [cli.server.url('/image')]);
    expect(refused.code).toBe(2);
    expect(refused.output).toContain('-o FILE');
    expect(refused.output).not.toContain('\x1b[2J');
  });

  it('warns about an incomplete page after showing it', async () => {
    const { code, output } = await runInPty(cli.home, ['--no-color', cli.server.url('/cut')]);
    expect(code).toBe(3);
    expect(output).toContain('half a sen');
    expect(output).toContain('no TLS close_notify');
  });

  it('prompts for input (status 10) and fetches again with the answer', async () => {
    const { code, output } = await runInPty(cli.home, [cli.server.url('/input')], { answers: [['What is your name?', 'Ada Lovelace\r']] });
    expect(code).toBe(0);
    expect(output).toContain('What is your name?');
    expect(output.split('What is your name?')[1]).toContain('Ada Lovelace');
  });

  it('does not echo sensitive input (status 11)', async () => {
    const { code, output } = await runInPty(cli.home, [cli.server.url('/secret')], { answers: [['Password?', 'hunter2\r']] });
    expect(code).toBe(0);
    expect(output).toContain('got 7 characters');
    expect(output).not.toContain('hunter2');
  });

  it('exits 7 when the prompt is cancelled with Ctrl-D', async () => {
    const { code } = await runInPty(cli.home, [cli.server.url('/input')], { answers: [['What is your name?', '\x04']] });
    expect(code).toBe(7);
  });

  it('shows a progress line on a terminal stderr and clears it; none with -q', async () => {
    const dir = tempDir();
    try {
      const shown = await runInPty(cli.home, [cli.server.url('/slow')], { shellSuffix: `> ${path.join(dir, 'out')}` });
      expect(shown.code).toBe(0);
      expect(fs.readFileSync(path.join(dir, 'out'), 'utf8')).toBe('a'.repeat(30));
      expect(shown.output).toMatch(/\r\x1b\[K.*B\/s/);
      expect(shown.output.endsWith('\r\x1b[K')).toBe(true);
      const quiet = await runInPty(cli.home, ['-q', cli.server.url('/slow')], { shellSuffix: `> ${path.join(dir, 'out2')}` });
      expect(quiet.output).toBe('');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Runs `gemfetch args...` on a pseudo-terminal made by util-linux `script`,
 * which copies everything the terminal got to a file (unbounded output would
 * not do in the python runner's memory). `whileRunning` may type into the
 * terminal; the run is killed after `hangGuardMs`.
 */
async function runInScript(
  home: string,
  args: string[],
  options: { cols: number; hangGuardMs: number; whileRunning?: (typescript: string, type: (text: string) => void) => Promise<void> },
): Promise<{ code: number | null; output: string }> {
  const dir = tempDir();
  const typescript = path.join(dir, 'typescript');
  try {
    const command = `stty cols ${options.cols} rows 24; exec ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ')}`;
    const child = spawn('script', ['-q', '-e', '-c', command, typescript], { cwd: ROOT, env: childEnv(home), stdio: ['pipe', 'ignore', 'ignore'] });
    const guard = setTimeout(() => child.kill('SIGKILL'), options.hangGuardMs);
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await options.whileRunning?.(typescript, (text) => child.stdin.write(text));
    const code = await exited;
    clearTimeout(guard);
    return { code, output: fs.readFileSync(typescript, 'latin1') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves once `file` holds at least `bytes` bytes (polls; the caller's hang guard bounds it). */
async function untilFileHolds(file: string, bytes: number): Promise<void> {
  while (!fs.existsSync(file) || fs.statSync(file).size < bytes) await sleep(50);
}

// Heavy renders: one at a time, after the block above, not beside it (2 shared cores).
describe.skipIf(!hasPty)('long words and links on a terminal', () => {
  it('renders a page with a 1 MB word, every character of it, and exits', async () => {
    const { code, output } = await runInPty(cli.home, ['--no-color', cli.server.url('/huge-word')], { cols: 60, timeoutMs: 240_000 });
    expect(code).toBe(0);
    const shown = output.split('\r\n');
    expect(shown[0]).toBe('# Huge');
    const after = shown.indexOf('after the word');
    expect(after).toBeGreaterThan(1);
    const wordLines = shown.slice(1, after);
    for (const line of wordLines) expect(columnsOf(line)).toBeLessThanOrEqual(60);
    expect(wordLines.join('')).toBe(MEGABYTE_WORD);
  }, 300_000);

  it('never breaks a link target on a narrow terminal: the label wraps, the URL overflows whole', async () => {
    const { code, output } = await runInPty(cli.home, ['--no-color', cli.server.url('/cgi-link')], { cols: 30 });
    expect(code).toBe(0);
    expect(output.split('\r\n').slice(0, 3)).toEqual(['[1] Search the whole archive', '    of this capsule', `    ⟶\u00a0${LONG_URL}`]);
  });
});

describe.skipIf(!hasScript)('stopping a render on a terminal', () => {
  it('--max-time stops the render of an endless page of long words', async () => {
    const { code, output } = await runInScript(cli.home, ['--max-time', '1s', cli.server.url('/endless-words')], { cols: 80, hangGuardMs: 120_000 });
    expect(output).toContain('stopped at --max-time 1s');
    expect(code).toBe(3);
  }, 150_000);

  it('Ctrl-C stops the render of an endless page of long words', async () => {
    const { code, output } = await runInScript(cli.home, [cli.server.url('/endless-words')], {
      cols: 80,
      hangGuardMs: 120_000,
      whileRunning: async (typescript, type) => {
        await untilFileHolds(typescript, 256 * 1024); // rendering is under way
        type('\x03');
      },
    });
    expect(output).toContain('interrupted');
    expect(code).toBe(130);
  }, 150_000);
});
