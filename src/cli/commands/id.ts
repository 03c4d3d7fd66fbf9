/**
 * `gemfetch id ACTION ...`: manages the identity store (client certificates
 * and the scopes they are sent to; see src/trust/identity-store.ts). Creates
 * or sends nothing unless asked: `create` and `import` make identities, `use`
 * gives one a scope; fetches then send it under that scope.
 */
import { constants as fsConstants } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';
import yargs, { type Argv } from 'yargs';
import { IdentityStore, DEFAULT_DAYS, MAX_DAYS, type IdentityInfo } from '../../trust/identity-store.js';
import { ExitCode } from '../exit-codes.js';
import { jsonLine } from '../ndjson-output.js';
import { plain } from '../messages.js';
import { rejectRepeatedOptions } from '../repeated-options.js';
import { UsageError } from '../usage-error.js';

const ACTIONS = ['create', 'list', 'use', 'unscope', 'export', 'import', 'delete'] as const;
type Action = (typeof ACTIONS)[number];

const USAGE = `Usage: gemfetch id ACTION [options]

Identities are client certificates kept under $XDG_DATA_HOME/gemfetch/identities
(~/.local/share/gemfetch/identities). Each has scopes: URLs (host, port and path
prefix, as the Gemini spec says) under which it is sent automatically, the most
specific scope winning. Nothing is created or sent unless you ask: a fetch sends
an identity only under its scopes, or with --id NAME; --no-id sends none.

Actions:
  create NAME [--scope URL]... [--days N] [--cn TEXT]   make a key and a self-signed certificate
  list [--json]                                         name, SHA-256 fingerprint, expiry, scopes
  use NAME --scope URL...                               send NAME under URL (taken from any other identity)
  unscope NAME --scope URL...                           stop sending NAME under URL
  export NAME [-o FILE]                                 certificate and private key, PEM (FILE mode 0600)
  import NAME CERT [KEY] [--scope URL]...               add a PEM certificate and its key (may be one file)
  delete NAME                                           remove the identity and its files`;

const ID_EXIT_CODES = `Exit codes:
    0  done
    1  the identity store cannot be read or written (the message names the file)
    2  usage error: unknown action or identity, bad name, scope, --days or file`;

interface IdArgs {
  _: Array<string | number>;
  scope?: string | string[];
  days?: string;
  cn?: string;
  json?: boolean;
  output?: string;
}

/** The configured parser of `gemfetch id` (help, completion and the man page read its options). */
export function parser(argv: string[]): Argv {
  return yargs(argv)
    .scriptName('gemfetch')
    .usage(USAGE)
    .strictOptions()
    .exitProcess(false)
    .version(false)
    .help()
    .wrap(null) // the actions table is laid out by hand
    .epilogue(ID_EXIT_CODES)
    .fail((message: string | undefined, err: Error | undefined) => {
      throw err ?? new UsageError(message ?? 'invalid arguments');
    })
    .option('scope', { type: 'string', requiresArg: true, defaultDescription: 'none', describe: 'URL (gemini://HOST[:PORT]/PATH) under which the identity is sent; repeatable' })
    .option('days', { type: 'string', requiresArg: true, defaultDescription: String(DEFAULT_DAYS), describe: `create: validity in days, 1 to ${MAX_DAYS}` })
    .option('cn', { type: 'string', requiresArg: true, defaultDescription: 'the identity name', describe: 'create: certificate common name' })
    .option('json', { type: 'boolean', describe: 'list, create, import: one JSON object per identity' })
    .option('output', { alias: 'o', type: 'string', requiresArg: true, defaultDescription: 'stdout', describe: 'export: write to FILE (created, mode 0600; never overwritten) instead of stdout' })
    .example('gemfetch id create alice --scope example.org/forum', 'make identity "alice", sent under gemini://example.org/forum/...')
    .example('gemfetch id use alice --scope gemini://example.org/wiki', 'also send it there (and to titan://example.org/wiki/...)')
    .example('gemfetch id export alice -o alice.pem', 'back it up; restore with: gemfetch id import alice alice.pem')
    .example('gemfetch --id alice gemini://example.org/login', 'send it for one run, whatever its scopes');
}

/** `gemfetch id ...`; resolves with the exit code (0, or throws: usage errors 2, store errors 1). */
export async function run(argv: string[]): Promise<number> {
  const args = (await parser(argv).parseAsync()) as unknown as IdArgs;
  if (argv.includes('--help') || argv.includes('-h')) return ExitCode.Ok;
  rejectRepeatedOptions(args as unknown as Record<string, unknown>, ['days', 'cn', 'output']);
  const [action, ...rest] = args._.map(String);
  if (action === undefined) throw new UsageError(`id needs an action: ${ACTIONS.join(', ')}`, { what: 'missing action', which: 'gemfetch id' });
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown id action ${JSON.stringify(action)}: expected ${ACTIONS.join(', ')}`, { what: 'unknown action', which: `id ${action}` });
  const scopes = args.scope === undefined ? [] : [args.scope].flat().map(String);
  const store = new IdentityStore();
  try {
    return await new IdCommand(store, args, scopes).run(action as Action, rest);
  } catch (err) {
    // The store's InvalidOptionError (a bad name, scope, days): a usage error in the one format, naming the value.
    if ((err as { code?: string }).code !== 'ERR_INVALID_OPTION' || err instanceof UsageError) throw err;
    const message = (err as Error).message;
    const m = /^(invalid [a-z ]+?) ("(?:[^"\\]|\\.)*"): (.+)$/s.exec(message);
    throw m ? new UsageError(m[3]!, { what: m[1]!, which: m[2]! }) : new UsageError(message, { what: 'invalid value', which: `id ${action}` });
  }
}

class IdCommand {
  constructor(
    private readonly store: IdentityStore,
    private readonly args: IdArgs,
    private readonly scopes: string[],
  ) {}

  async run(action: Action, operands: string[]): Promise<number> {
    const counts: Record<Action, [number, number]> = {
      create: [1, 1],
      list: [0, 0],
      use: [1, 1],
      unscope: [1, 1],
      export: [1, 1],
      import: [2, 3],
      delete: [1, 1],
    };
    const [min, max] = counts[action];
    if (operands.length < min || operands.length > max) {
      const what = action === 'list' ? 'no operands' : action === 'import' ? 'NAME CERT [KEY]' : 'one NAME';
      throw new UsageError(`id ${action} takes ${what} (got ${operands.length === 0 ? 'none' : operands.map((o) => JSON.stringify(o)).join(' ')})`, { what: 'wrong operands', which: `id ${action}` });
    }
    const only = (allowed: string[]): void => {
      const given = (['scope', 'days', 'cn', 'json', 'output'] as const).filter((o) => this.args[o] !== undefined && !allowed.includes(o));
      if (given.length > 0) throw new UsageError(`--${given[0]} cannot be used with id ${action}`, { what: 'not with this action', which: `--${given[0]}` });
    };
    const name = operands[0]!;
    switch (action) {
      case 'create':
        only(['scope', 'days', 'cn', 'json']);
        return this.#create(name);
      case 'list':
        only(['json']);
        return this.#list();
      case 'use':
      case 'unscope':
        only(['scope']);
        return this.#scope(action, name);
      case 'export':
        only(['output']);
        return this.#export(name);
      case 'import':
        only(['scope', 'json']);
        return this.#import(name, operands[1]!, operands[2]);
      case 'delete':
        only([]);
        await this.#known(name);
        await this.store.delete(name);
        say(`deleted identity ${name} (its certificate and key are gone; servers that knew it cannot be shown it again)`);
        return ExitCode.Ok;
    }
  }

  async #create(name: string): Promise<number> {
    let days: number | undefined;
    if (this.args.days !== undefined) {
      const text = this.args.days.trim();
      days = Number(text);
      if (!/^\d+$/.test(text) || days < 1 || days > MAX_DAYS) throw new UsageError(`--days needs a whole number of days from 1 to ${MAX_DAYS} (got ${JSON.stringify(this.args.days)})`, { what: 'invalid value', which: '--days' });
    }
    if ((await this.store.get(name)) !== undefined) throw exists(name);
    const info = await this.store.create(name, { scopes: this.scopes, ...(days !== undefined ? { days } : {}), ...(this.args.cn !== undefined ? { commonName: this.args.cn } : {}) });
    return this.#reportAdded('created', info);
  }

  async #import(name: string, certFile: string, keyFile: string | undefined): Promise<number> {
    if ((await this.store.get(name)) !== undefined) throw exists(name);
    const certText = await readPem(certFile, 'CERT');
    const keyText = keyFile === undefined ? certText : await readPem(keyFile, 'KEY');
    if (keyFile === undefined && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(certText)) throw new UsageError('it holds no private key: give the key file too (gemfetch id import NAME CERT KEY)', { what: 'cannot import', which: certFile });
    let info: IdentityInfo;
    try {
      info = await this.store.import(name, certText, keyText, { scopes: this.scopes });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_INVALID_OPTION') throw new UsageError((err as Error).message, { what: 'cannot import', which: `id import ${name} ${certFile}${keyFile ? ` ${keyFile}` : ''}` });
      throw err;
    }
    return this.#reportAdded('imported', info);
  }

  #reportAdded(verb: string, info: IdentityInfo): number {
    if (this.args.json) {
      process.stdout.write(`${jsonLine(infoJson(info))}\n`);
      return ExitCode.Ok;
    }
    say(`${verb} identity ${info.name}: sha256 ${info.fingerprint}, valid until ${info.notAfter.toISOString().slice(0, 10)}`);
    if (info.scopes.length === 0) say(`  no scope yet: it is sent only with --id ${info.name}, or give it one: gemfetch id use ${info.name} --scope URL`);
    for (const scope of info.scopes) say(`  sent under ${plain(scope)}`);
    return ExitCode.Ok;
  }

  async #list(): Promise<number> {
    const all = await this.store.list();
    if (this.args.json) {
      process.stdout.write(all.map((info) => `${jsonLine(infoJson(info))}\n`).join(''));
      return ExitCode.Ok;
    }
    if (all.length === 0) {
      say(`no identities in ${this.store.dir} (create one: gemfetch id create NAME --scope URL)`);
      return ExitCode.Ok;
    }
    const now = Date.now();
    const lines = all.map((info) => {
      const expiry = info.notAfter.toISOString().slice(0, 10) + (info.notAfter.getTime() <= now ? ' (expired)' : '');
      const scopes = info.scopes.length === 0 ? '(no scope: --id only)' : info.scopes.map(plain).join(' ');
      return `${info.name}\t${info.fingerprint}\t${expiry}\t${scopes}`;
    });
    process.stdout.write(`NAME\tSHA256\tEXPIRES\tSCOPES\n${lines.join('\n')}\n`);
    return ExitCode.Ok;
  }

  async #scope(action: 'use' | 'unscope', name: string): Promise<number> {
    if (this.scopes.length === 0) throw new UsageError(`id ${action} needs --scope URL (e.g. gemfetch id ${action} ${name} --scope gemini://example.org/path)`, { what: 'missing option', which: '--scope' });
    await this.#known(name);
    for (const scope of this.scopes) {
      if (action === 'use') {
        const done = await this.store.use(name, scope);
        say(`identity ${name} is sent under ${plain(done.scope)}${done.movedFrom.length > 0 ? ` (no longer ${done.movedFrom.join(', ')})` : ''}`);
      } else {
        const had = await this.store.unscope(name, scope);
        say(had ? `identity ${name} is no longer sent under ${plain(scope)}` : `identity ${name} had no scope ${plain(scope)} (nothing changed)`);
      }
    }
    return ExitCode.Ok;
  }

  async #export(name: string): Promise<number> {
    await this.#known(name);
    const material = await this.store.load(name);
    const pem = `${material.cert.trimEnd()}\n${material.key.trimEnd()}\n`;
    const file = this.args.output;
    if (file === undefined || file === '-') {
      process.stdout.write(pem);
      return ExitCode.Ok;
    }
    let handle;
    let created = false;
    try {
      handle = await open(file, 'wx', 0o600);
      created = true;
      await handle.writeFile(pem);
      await handle.close();
      handle = undefined;
    } catch (err) {
      await handle?.close().catch(() => {});
      if (created) await unlink(file).catch(() => {}); // no half-written key left behind
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        const isDir = await stat(file).then((st) => st.isDirectory(), () => false);
        throw new UsageError(isDir ? 'it is a directory: give a file name' : 'the file exists (an exported key is never written over a file)', { what: 'cannot export', which: `-o ${file}` });
      }
      // A missing directory, no permission, a full disk: the user's to fix, so a usage error naming the file, not an internal error.
      const why = code === 'ENOENT' ? 'no such directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on the device' : (code ?? (err as Error).message);
      throw new UsageError(`cannot write the file (${why})`, { what: 'cannot export', which: `-o ${file}` });
    }
    say(`exported identity ${name} (certificate and private key) to ${plain(file)}: keep it secret`);
    return ExitCode.Ok;
  }

  async #known(name: string): Promise<void> {
    if ((await this.store.get(name)) === undefined) {
      const names = (await this.store.list()).map((i) => i.name);
      throw new UsageError(`no identity named ${JSON.stringify(name)} (${names.length === 0 ? 'there are none yet' : `identities: ${names.join(', ')}`})`, { what: 'no such identity', which: name });
    }
  }
}

function infoJson(info: IdentityInfo): Record<string, unknown> {
  return {
    name: info.name,
    fingerprint: info.fingerprint,
    commonName: info.commonName,
    notAfter: info.notAfter.toISOString(),
    created: info.created.toISOString(),
    scopes: info.scopes,
  };
}

/** Reads a PEM file given on the command line (at most 64 KiB); a usage error `cannot read CERT (FILE): why` otherwise. */
async function readPem(file: string, what: string): Promise<string> {
  const refuse = (why: string): UsageError => new UsageError(why, { what: `cannot read ${what}`, which: file });
  let text: string;
  try {
    // O_NONBLOCK: a FIFO is opened at once and refused below, instead of blocking until a writer comes.
    const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw refuse(`not a regular file (${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : 'a device or socket'}): give a PEM file`);
      if (st.size > 64 * 1024) throw refuse(`${st.size} bytes, too big for a PEM certificate or key (limit 64 KiB)`);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw refuse(`cannot read the file (${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message)})`);
  }
  return text;
}

function exists(name: string): UsageError {
  return new UsageError(`an identity named ${name} exists already (gemfetch id list; gemfetch id delete ${name} to replace it)`, { what: 'identity exists', which: name });
}

function say(line: string): void {
  process.stderr.write(`gemfetch: ${line}\n`);
}
