/**
 * Helpers for the CLI tests: run the real `bin/gemfetch.js` (compiled dist/)
 * as a child process, either with pipes or inside a pseudo-terminal.
 *
 * Every run gets XDG_DATA_HOME in a temporary directory, so the tests never
 * touch the real known-hosts file, and NO_COLOR/COLUMNS removed unless given.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startGeminiServer, type GeminiHandler, type GeminiTestServer } from './gemini-server.js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'gemfetch.js');
const DIST_MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');

/** Throws a clear error when dist/ has not been built (`npm test` builds it; `npx tsc -p tsconfig.json` otherwise). */
export function requireBuild(): void {
  if (!fs.existsSync(DIST_MAIN)) throw new Error(`${DIST_MAIN} is missing: run \`npx tsc -p tsconfig.json\` (npm test does) before these tests`);
}

/** A fresh temporary directory; the caller removes it (see {@link removeDir}, {@link scratchDirs}). */
export function tempDir(prefix = 'gemfetch-cli-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Removes `dir` and everything in it; no error when it is missing or `dir` is undefined (a failed set-up). */
export function removeDir(dir: string | undefined): void {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Temporary directories for one test file or `describe` block: returns a maker
 * of fresh directories (see {@link tempDir}) and registers an `afterAll` in the calling scope that
 * removes every directory it made. Call it at file or `describe` level only.
 */
export function scratchDirs(): (prefix?: string) => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs.splice(0)) removeDir(dir);
  });
  return (prefix) => {
    const dir = tempDir(prefix);
    dirs.push(dir);
    return dir;
  };
}

/** What {@link cliFixture} provides, set once its `beforeAll` has run. */
export interface CliFixture {
  /** A Gemini server on 127.0.0.1 answering with the fixture's handler. */
  readonly server: GeminiTestServer;
  /** A data home for {@link runCli} (known hosts and so on). */
  readonly home: string;
}

/**
 * The set-up every CLI test file shares: checks that dist/ is built, makes a
 * data home and starts a Gemini server with `handler`; all of it goes away
 * after the tests. Call it at file or `describe` level only.
 */
export function cliFixture(handler: GeminiHandler): CliFixture {
  const scratch = scratchDirs();
  let server: GeminiTestServer | undefined;
  let home: string | undefined;
  beforeAll(async () => {
    requireBuild();
    home = scratch('gemfetch-cli-home-');
    server = await startGeminiServer({ handler });
  });
  afterAll(async () => {
    await server?.close();
  });
  return {
    get server() {
      if (!server) throw new Error('cliFixture: used before its beforeAll ran');
      return server;
    },
    get home() {
      if (!home) throw new Error('cliFixture: used before its beforeAll ran');
      return home;
    },
  };
}

/** Result of a CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Options of {@link runCli}. */
export interface RunOptions {
  /** Extra environment (merged over a cleaned copy of process.env). */
  env?: Record<string, string | undefined>;
  /** Working directory (default: a fresh temporary directory is NOT made; ROOT). */
  cwd?: string;
  /** Kill after this many ms (default 15 000). */
  timeoutMs?: number;
  /** Data written to stdin (then closed). */
  stdin?: string;
  /** Called with the child right after spawn (e.g. to send signals). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
}

/** Environment for a child: XDG_DATA_HOME in `dataHome`, no colour or width variables inherited. */
export function childEnv(dataHome: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_DATA_HOME: dataHome };
  delete env.NO_COLOR;
  delete env.COLUMNS;
  delete env.FORCE_COLOR;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs `gemfetch args...` with pipes for stdin, stdout and stderr. */
export function runCli(dataHome: string, args: string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: childEnv(dataHome, options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(options.stdin ?? '');
    options.onSpawn?.(child);
  });
}

/**
 * Python program running a command in a pseudo-terminal of a given size,
 * answering prompts: when the output (since the last answer) contains a
 * trigger, it types the answer. Prints everything the terminal received on
 * stdout and exits with the command's exit code.
 */
const PTY_RUNNER = String.raw`
import fcntl, json, os, pty, select, struct, sys, termios, time
cfg = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 24, cfg['cols'], 0, 0))
    os.chdir(cfg['cwd'])
    os.execvpe(cfg['argv'][0], cfg['argv'], cfg['env'])
out = b''
answers = cfg['answers']
mark = 0
deadline = time.time() + cfg['timeout']
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    if answers and answers[0][0].encode() in out[mark:]:
        mark = len(out)
        time.sleep(0.05)
        os.write(fd, answers.pop(0)[1].encode())
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.stdout.flush()
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 200)
`;

/** Whether python3 with the pty module is available for {@link runInPty}. */
export function ptyAvailable(): boolean {
  try {
    return (
      fs.existsSync('/usr/bin/python3') ||
      (process.env.PATH ?? '').split(':').some((dir) => fs.existsSync(path.join(dir, 'python3')))
    );
  } catch {
    return false;
  }
}

/** Options of {@link runInPty}. */
export interface PtyOptions {
  env?: Record<string, string | undefined>;
  /** Terminal width (default 80). */
  cols?: number;
  /** `[trigger, text]`: when the output contains `trigger`, type `text` (include `\r` to press Enter). */
  answers?: Array<[string, string]>;
  timeoutMs?: number;
  cwd?: string;
  /** Run through `sh -c` with this shell suffix (e.g. `> out.bin` so only stderr is the terminal). */
  shellSuffix?: string;
}

/** Runs `gemfetch args...` with stdin, stdout and stderr on one pseudo-terminal. `output` is what the terminal got. */
export function runInPty(dataHome: string, args: string[], options: PtyOptions = {}): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args];
  const argv = options.shellSuffix ? ['sh', '-c', `${command.map(shellQuote).join(' ')} ${options.shellSuffix}`] : command;
  const cfg = {
    argv,
    env: childEnv(dataHome, options.env),
    cols: options.cols ?? 80,
    answers: options.answers ?? [],
    timeout: (options.timeoutMs ?? 15_000) / 1000,
    cwd: options.cwd ?? ROOT,
  };
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', PTY_RUNNER, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (stderr.includes('Traceback')) reject(new Error(`pty runner failed: ${stderr}`));
      else resolve({ code, output: Buffer.concat(out).toString('utf8') });
    });
  });
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Every escape sequence in `text` (ESC-introduced or C1 CSI). */
export function escapeSequences(text: string): string[] {
  return text.match(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[^[]|\x9b/g) ?? [];
}
