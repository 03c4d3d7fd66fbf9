/**
 * A simulated Geminispace on loopback for batch/crawl/survey tests.
 *
 * Every capsule listens on its own loopback address (127.0.0.X: Linux routes
 * all of 127/8 to lo) on an ephemeral port, with its own certificate. Pages
 * are declared per capsule; bodies may contain `{{NAME}}`, replaced by the
 * capsule NAME's base URL (`gemini://127.0.0.X:PORT`), so capsules can link
 * to each other. Every request is logged with its times (server side), and
 * the highest number of requests a capsule was serving at once is kept, so
 * tests can check politeness from the server's point of view.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createCertificate } from '../../src/trust/selfsigned.js';
import { startGeminiServer, type Ending, type GeminiTestServer, type RequestContext } from './gemini-server.js';

/** A page: header (default `20 text/gemini`), body, ending (default the capsule's). */
export interface PageDef {
  header?: string;
  body?: string | Buffer;
  ending?: Ending;
}

/** A static page, or a function of the request and of how many times this path was asked (0-based). */
export type PageSource = PageDef | ((ctx: RequestContext, count: number) => PageDef | Promise<PageDef>);

/** One capsule. */
export interface CapsuleDef {
  name: string;
  /** Pages by path; a key with `?` matches path+query exactly, one without matches the path with any query. */
  pages?: Record<string, PageSource>;
  /** Body of /robots.txt; absent: /robots.txt is 51. */
  robots?: string;
  /** MIME type of robots.txt (default text/plain). */
  robotsMime?: string;
  /** Ending of pages without their own (default close_notify). */
  successEnding?: Ending;
  /** Ending of the 51 answered for unknown paths (default close_notify). */
  notFoundEnding?: Ending;
  /** Wait this long before answering any request. */
  answerDelayMs?: number;
  /** No server: connections are refused. */
  down?: boolean;
  /** Highest TLS version offered. */
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Certificate already expired. */
  expired?: boolean;
  /** Certificate issued by this CA instead of self-signed. */
  issuer?: { cert: string; key: string };
  /** Serve a generated tree under /tree/: every node links to `fanout` children (named by {@link treeSegment}), down to `depth`. */
  tree?: { depth: number; fanout: number };
}

/** One request as the capsule saw it. */
export interface RequestLog {
  /** Path plus `?query` when present. */
  path: string;
  start: number;
  end: number | undefined;
}

/** A running capsule. */
export interface Capsule {
  def: CapsuleDef;
  host: string;
  port: number;
  /** `gemini://HOST:PORT` + path. */
  url(path?: string): string;
  server: GeminiTestServer | undefined;
  log: RequestLog[];
  /** Most requests being served at once. */
  maxActive: number;
}

/** A running Geminispace. */
export interface Geminispace {
  capsules: Capsule[];
  get(name: string): Capsule;
  close(): Promise<void>;
}

let nextAddress = 2;

/** Next loopback address; each test file (own worker) walks its own range. */
function allocateAddress(): string {
  const n = nextAddress++;
  const base = (process.pid % 200) + 10; // spreads parallel workers over 127.10-209.x.x
  return `127.${base}.${Math.floor(n / 250)}.${(n % 250) + 2}`;
}

/** Starts every capsule of `defs`. */
export async function startGeminispace(defs: CapsuleDef[]): Promise<Geminispace> {
  const capsules: Capsule[] = [];
  const byName = new Map<string, Capsule>();
  const expand = (text: string): string => text.replace(/\{\{([\w-]+)\}\}/g, (_, name: string) => byName.get(name)?.url('').replace(/\/$/, '') ?? `gemini://unknown-${name}.invalid`);

  for (const def of defs) {
    const host = allocateAddress();
    const capsule: Capsule = {
      def,
      host,
      port: 0,
      url: (path = '/') => `gemini://${host}:${capsule.port}${path}`,
      server: undefined,
      log: [],
      maxActive: 0,
    };
    capsules.push(capsule);
    byName.set(def.name, capsule);
    const cert = createCertificate({
      commonName: def.name,
      ipAddresses: [host],
      ...(def.expired ? { notBefore: new Date(Date.now() - 40 * 86400_000), notAfter: new Date(Date.now() - 86400_000) } : {}),
      ...(def.issuer ? { issuer: def.issuer } : {}),
    });
    const counts = new Map<string, number>();
    let active = 0;
    const server = await startGeminiServer({
      host,
      cert,
      ...(def.maxVersion ? { maxVersion: def.maxVersion } : {}),
      handler: async (ctx) => {
        const path = ctx.url ? ctx.url.pathname + ctx.url.search : ctx.request;
        const entry: RequestLog = { path, start: Date.now(), end: undefined };
        capsule.log.push(entry);
        active++;
        capsule.maxActive = Math.max(capsule.maxActive, active);
        try {
          if (def.answerDelayMs) await sleep(def.answerDelayMs);
          const count = counts.get(path) ?? 0;
          counts.set(path, count + 1);
          const page = await pageFor(def, ctx, path, count);
          const body = typeof page.body === 'string' ? expand(page.body) : (page.body ?? '');
          const ending = page.ending ?? (page.header?.startsWith('2') === false ? (def.notFoundEnding ?? 'close_notify') : (def.successEnding ?? 'close_notify'));
          await ctx.write(Buffer.concat([Buffer.from(`${expand(page.header ?? '20 text/gemini')}\r\n`), Buffer.from(body)]));
          ctx.end(ending);
          if (ending === 'none') {
            // served until the client lets go (its FIN, or the connection closing)
            await new Promise<void>((resolve) => {
              if (ctx.raw.readableEnded || ctx.raw.destroyed) resolve();
              ctx.raw.once('end', resolve);
              ctx.raw.once('close', resolve);
            });
            ctx.raw.destroy(); // and let go of the half-open TCP connection
          }
        } catch {
          // client went away
        } finally {
          active--;
          entry.end = Date.now();
        }
      },
    });
    capsule.server = server;
    capsule.port = server.port;
    if (def.down) {
      await server.close(); // the port now refuses connections
      capsule.server = undefined;
    }
  }
  return {
    capsules,
    get: (name) => {
      const capsule = byName.get(name);
      if (!capsule) throw new Error(`no capsule ${name}`);
      return capsule;
    },
    close: async () => {
      await Promise.all(capsules.map((c) => c.server?.close()));
    },
  };
}

async function pageFor(def: CapsuleDef, ctx: RequestContext, path: string, count: number): Promise<PageDef> {
  const pathname = ctx.url?.pathname ?? '';
  if (pathname === '/robots.txt' && def.robots !== undefined) return { header: `20 ${def.robotsMime ?? 'text/plain'}`, body: def.robots };
  const source = def.pages?.[path] ?? def.pages?.[pathname];
  if (source) return typeof source === 'function' ? source(ctx, count) : source;
  if (def.tree && pathname.startsWith('/tree/')) {
    const node = pathname.slice('/tree/'.length).replace(/\/$/, '');
    const level = node === '' ? 0 : node.split('/').length;
    const links = level < def.tree.depth ? Array.from({ length: def.tree.fanout }, (_, i) => `=> ${treeSegment(level, i)}/ child ${i}`).join('\n') : 'leaf';
    return { body: `# node ${node || 'root'}\n${links}\n` };
  }
  return { header: '51 Not found', ending: def.notFoundEnding };
}

/**
 * Name of child `i` of a tree node at `level`: the level as letters, then `i`
 * (`a0`, `b1`, ..., `z3`, `ba0`), so no path repeats a segment and the crawl's
 * repeated-segment trap guard never takes a generated node for a trap.
 */
export function treeSegment(level: number, i: number): string {
  let name = '';
  let n = level;
  do {
    name = String.fromCharCode(97 + (n % 26)) + name;
    n = Math.floor(n / 26);
  } while (n > 0);
  return `${name}${i}`;
}

/** Paths of the generated tree up to `maxLevel` (inclusive), e.g. `/tree/`, `/tree/a0/`, `/tree/a0/b1/`... */
export function treePaths(fanout: number, maxLevel: number): string[] {
  const paths: string[] = [];
  const walk = (prefix: string, level: number): void => {
    paths.push(prefix);
    if (level === maxLevel) return;
    for (let i = 0; i < fanout; i++) walk(`${prefix}${treeSegment(level, i)}/`, level + 1);
  };
  walk('/tree/', 0);
  return paths;
}
