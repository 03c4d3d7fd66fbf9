/**
 * `gemfetch demo`: starts the demo capsule on this machine, fetches its pages
 * with the library (throwaway known-hosts file) and explains, page by page,
 * what a complete response and a cut one look like. Needs no network.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '../../net/client.js';
import { fetchToRecord, type FetchRecord } from '../../net/record.js';
import { DEMO_STORY_LOST, startDemoCapsule } from '../demo-capsule.js';
import { ExitCode, exitCodeForRecord } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { describeTermination, plain, statusLabel } from '../messages.js';
import { formatBytes } from '../units.js';

/** Options of {@link runDemo}. */
export interface DemoArgs {
  /** Colours on a terminal (default true; NO_COLOR also turns them off). */
  color?: boolean;
}

/** One page of the demo and what gemfetch should find. */
interface DemoPage {
  path: string;
  what: string;
  maxBytes?: number;
  expect: (record: FetchRecord) => boolean;
}

const PAGES: readonly DemoPage[] = [
  {
    path: '/',
    what: 'a gemtext page the server ends properly',
    expect: (r) => r.status === 20 && r.complete && r.termination === 'close_notify',
  },
  {
    path: '/story.gmi',
    what: 'a page the server cuts off, closing TCP without close_notify',
    expect: (r) => r.status === 20 && !r.complete && r.termination === 'tcp_fin',
  },
  {
    path: '/endless',
    what: 'a stream that never ends, fetched with --max-size 4K',
    maxBytes: 4096,
    expect: (r) => r.status === 20 && !r.complete && r.termination === 'size_limit',
  },
  {
    path: '/missing',
    what: 'a page that does not exist',
    expect: (r) => r.status === 51,
  },
];

/**
 * Runs the demo; resolves 0 when every page behaved as expected, 1
 * otherwise (saying which). Writes to stdout; touches only a temporary
 * directory, removed at the end.
 */
export async function runDemo(args: DemoArgs, io: CliIo): Promise<number> {
  const useColor = args.color !== false && !io.env.NO_COLOR && io.env.TERM !== 'dumb' && io.stdout.isTTY === true;
  const style = (code: string) => (text: string): string => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
  const bold = style('1');
  const good = style('32');
  const bad = style('1;31');
  const dim = style('2');
  const out = (text = ''): void => {
    io.stdout.write(`${text}\n`);
  };

  const dir = await mkdtemp(path.join(os.tmpdir(), 'gemfetch-demo-'));
  const capsule = await startDemoCapsule();
  try {
    const client = new Client({ knownHosts: path.join(dir, 'known_hosts'), connectTimeout: 5000, headerTimeout: 5000, idleTimeout: 5000, totalTimeout: 20_000 });
    out(bold(`gemfetch demo: a capsule is running on this machine at ${capsule.url('/')}`));
    out(dim('Its certificate was made a moment ago; gemfetch trusts it on first use, in a throwaway known-hosts file.'));
    out();
    let allAsExpected = true;
    for (const [index, page] of PAGES.entries()) {
      let body = Buffer.alloc(0);
      const record = await fetchToRecord(client, capsule.url(page.path), {
        ...(page.maxBytes !== undefined ? { maxBytes: page.maxBytes } : {}),
        onChunk: (chunk) => {
          if (body.length < 8192) body = Buffer.concat([body, chunk]);
        },
      });
      const asExpected = page.expect(record);
      allAsExpected &&= asExpected;
      out(`${bold(`${index + 1}.`)} ${capsule.url(page.path)}  ${dim(`(${page.what})`)}`);
      out(`   ${describeOutcome(record, page, { good, bad })}`);
      const excerpt = excerptOf(record, body);
      if (excerpt) out(dim(`   ${excerpt}`));
      out(`   ${dim(`gemfetch would exit with ${exitCodeForRecord(record)}`)}${asExpected ? '' : `  ${bad('<- not what the demo expected')}`}`);
      out();
    }
    out(bold('What this shows'));
    out('A Gemini response has no length field. The only proof that a body arrived whole is the');
    out("server's TLS close_notify alert before it closes the connection. Page 1 had it. Page 2 looks");
    out(`like a normal page to most clients, yet it lost its end ("...under the${DEMO_STORY_LOST.trimEnd()}"):`);
    out('gemfetch reports it as incomplete, and exits 3 instead of 0. Limits you set (page 3) are');
    out('reported the same way, never as success. Try a real capsule:  gemfetch -v geminiprotocol.net/');
    if (!allAsExpected) {
      out();
      out(bad('Some pages did not behave as expected: please report this with your Node.js version and OS.'));
    }
    return allAsExpected ? ExitCode.Ok : ExitCode.Network;
  } finally {
    await capsule.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function describeOutcome(record: FetchRecord, page: DemoPage, colors: { good: (s: string) => string; bad: (s: string) => string }): string {
  if (record.error) return colors.bad(`no response: ${record.error.message}`);
  const status = `status ${statusLabel(record.status!)}${record.status === 20 ? ` (${record.mimeType})` : ''}`;
  if (record.status !== 20) return `${status}: an error status and no body (${record.complete ? 'ended with' : 'without'} close_notify)`;
  const limits = page.maxBytes !== undefined ? { maxBytes: page.maxBytes } : {};
  const end = describeTermination({ termination: record.termination!, timeout: record.timeout }, limits);
  const verdict = record.complete ? colors.good('COMPLETE (TLS close_notify received)') : colors.bad(`INCOMPLETE: ${end}`);
  return `${status}, ${formatBytes(record.bytes)}, ${verdict}`;
}

/** The last words received of a cut page, or the first line of a complete one. */
function excerptOf(record: FetchRecord, body: Buffer): string | undefined {
  if (record.status !== 20 || body.length === 0) return undefined;
  const text = body.toString('utf8');
  if (record.complete) return `first line: "${plain(text.split('\n')[0] ?? '')}"`;
  return `last line received: "${plain(text.trimEnd().split('\n').pop() ?? '')}"`;
}
