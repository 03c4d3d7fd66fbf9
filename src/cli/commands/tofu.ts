/**
 * `gemfetch tofu list | check | forget HOST[:PORT] | trust HOST[:PORT] | pin HOST[:PORT] SHA256`:
 * managing the pinned server keys of the known-hosts file.
 */
import { KnownHostsError } from '../../errors.js';
import { publicKeyFingerprint, KnownHostsStore, defaultKnownHostsPath } from '../../trust/tofu.js';
import { connectTls } from '../../net/transport.js';
import { fromUserInput, parseGeminiUrl, type GeminiUrl } from '../../protocol/url.js';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from '../io.js';
import { formatMessage, plain } from '../messages.js';
import { parseDuration } from '../units.js';
import { UsageError } from '../usage-error.js';

/** Arguments of the tofu command. */
export interface TofuArgs {
  action?: string;
  host?: string;
  /** The SHA-256 fingerprint given to `pin`. */
  fingerprint?: string;
  knownHosts?: string;
  connectTimeout?: string;
  ipv4?: boolean;
  ipv6?: boolean;
}

/**
 * Runs one tofu action. `list` prints one pin per line on stdout
 * (`HOST:PORT FINGERPRINT expires DATE added DATE`), warning on stderr when
 * the file has damaged lines; `check` prints each damaged line on stdout
 * (`FILE:LINE ...`) and exits 1 when there is any; `forget` removes a pin, a
 * damaged line of that host included (exit 0 also when there was none,
 * saying so; given HOST without a port, it also names the other ports of
 * HOST that are pinned); `trust` connects to the host, pins the key it
 * presents now (replacing any old pin, damaged or not) and prints it; `pin`
 * pins a fingerprint received out of band, without connecting (such a pin
 * does not expire).
 * @throws UsageError for a missing or unknown action, a missing or invalid
 *   HOST[:PORT], or a missing or malformed fingerprint.
 */
export async function runTofu(args: TofuArgs, io: CliIo): Promise<number> {
  const store = new KnownHostsStore(args.knownHosts ?? defaultKnownHostsPath(io.env));
  switch (args.action) {
    case 'list':
      return list(store, io);
    case 'check':
      return check(store, io);
    case 'forget':
      return forget(store, hostArgument(args), namesPort(args.host ?? ''), io);
    case 'trust':
      return trust(store, hostArgument(args), args, io);
    case 'pin':
      return pin(store, hostArgument(args), fingerprintArgument(args.fingerprint), io);
    case undefined:
      throw new UsageError(`tofu needs an action: ${TOFU_ACTIONS}`, { what: 'missing action', which: 'gemfetch tofu' });
    default:
      throw new UsageError(`unknown tofu action ${JSON.stringify(plain(String(args.action)))}: expected ${TOFU_ACTIONS}`, { what: 'unknown action', which: `tofu ${plain(String(args.action))}` });
  }
}

/** The actions, as usage messages list them. */
const TOFU_ACTIONS = 'list, check, forget HOST[:PORT], trust HOST[:PORT] or pin HOST[:PORT] SHA256';

/**
 * Expiry written for a pin made with `tofu pin`: the certificate is not known,
 * so the pin never expires (a different key is refused until trusted or
 * pinned, unless a trusted certificate authority signed it, as for any pin).
 */
export const OUT_OF_BAND_PIN_EXPIRY = new Date('9999-12-31T23:59:59.999Z');

/**
 * A SHA-256 public-key fingerprint as typed: 64 hex digits, in either case,
 * optionally with `:` between bytes and a `sha256:` prefix. Returns the
 * lowercase hex form pins use.
 * @throws UsageError naming the value when it is not one.
 */
export function parseFingerprint(text: string): string {
  const hex = text.trim().replace(/^sha256:/i, '').replace(/:/g, '');
  if (/^[0-9a-f]{64}$/i.test(hex)) return hex.toLowerCase();
  throw new UsageError(
    `${JSON.stringify(plain(text))} is not the SHA-256 of a server's public key, 64 hex digits ` + '(as `gemfetch -v URL` and `gemfetch tofu list` show it)',
    { what: 'invalid fingerprint', which: 'tofu pin' },
  );
}

function fingerprintArgument(text: string | undefined): string {
  if (text === undefined || text.trim() === '') throw new UsageError('tofu pin needs HOST[:PORT] and the SHA-256 fingerprint of its public key', { what: 'missing argument', which: 'tofu pin' });
  return parseFingerprint(text);
}

/** Whether HOST[:PORT] as typed names a port (`host:1965` does, `host` does not). */
function namesPort(text: string): boolean {
  try {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `gemini://${text}`;
    return new URL(withScheme).port !== '';
  } catch {
    return true;
  }
}

/** Parses HOST[:PORT] (or a gemini URL) into the normalised host and `host:port` key used by pins. */
export function parseHostPort(text: string): GeminiUrl {
  try {
    return parseGeminiUrl(fromUserInput(text.includes('/') ? text : `${text}/`));
  } catch (err) {
    throw new UsageError(`expected HOST or HOST:PORT (${(err as Error).message})`, { what: 'invalid host', which: plain(text) });
  }
}

function hostArgument(args: TofuArgs): GeminiUrl {
  if (args.host === undefined || args.host.trim() === '') {
    throw new UsageError(args.action === 'pin' ? 'tofu pin needs HOST[:PORT] and the SHA-256 fingerprint of its public key' : `tofu ${args.action} needs HOST[:PORT]`, {
      what: 'missing argument',
      which: `tofu ${args.action}`,
    });
  }
  return parseHostPort(args.host);
}

async function list(store: KnownHostsStore, io: CliIo): Promise<number> {
  const pins = await store.list();
  const { damagedCount, damaged } = await store.check();
  if (damagedCount > 0) {
    io.stderr.write(`gemfetch: warning: ${damagedCount} damaged line${damagedCount === 1 ? '' : 's'} in ${store.path} (first: line ${damaged[0]!.line}), not listed: see \`gemfetch tofu check\`\n`);
  }
  if (pins.length === 0) {
    io.stderr.write(`gemfetch: no pinned keys in ${store.path}\n`);
    return ExitCode.Ok;
  }
  io.stderr.write(`# ${pins.length} pinned key${pins.length === 1 ? '' : 's'} in ${store.path}\n`);
  const width = Math.max(...pins.map((p) => p.hostPort.length));
  for (const pin of pins) {
    io.stdout.write(`${plain(pin.hostPort).padEnd(width)}  ${pin.fingerprint}  expires ${day(pin.expires)}  added ${day(pin.added)}\n`);
  }
  return ExitCode.Ok;
}

async function check(store: KnownHostsStore, io: CliIo): Promise<number> {
  const report = await store.check();
  for (const { line, hostPort } of report.damaged) {
    const what = hostPort
      ? `pin of ${plain(hostPort)} that cannot be read: its certificates are refused until the line is repaired or removed (gemfetch tofu forget ${plain(hostPort)})`
      : 'line naming no host: no host is trusted on first use until it is repaired or deleted';
    io.stdout.write(`${store.path}:${line}: ${what}\n`);
  }
  if (report.damagedCount > report.damaged.length) io.stdout.write(`... and ${report.damagedCount - report.damaged.length} more damaged lines\n`);
  const summary = `${report.entries} pin${report.entries === 1 ? '' : 's'} in ${report.lines} line${report.lines === 1 ? '' : 's'}`;
  if (report.damagedCount === 0) {
    io.stderr.write(`gemfetch: ${store.path}: ${summary}, no damaged line\n`);
    return ExitCode.Ok;
  }
  io.stderr.write(`gemfetch: ${store.path}: ${summary}, ${report.damagedCount} damaged: edit the file to repair or delete ${report.damagedCount === 1 ? 'it' : 'them'}\n`);
  return ExitCode.Network;
}

async function forget(store: KnownHostsStore, url: GeminiUrl, portGiven: boolean, io: CliIo): Promise<number> {
  const removed = await store.forget(url.hostPort);
  io.stderr.write(removed ? `gemfetch: forgot the pinned key of ${url.hostPort}\n` : `gemfetch: no pinned key for ${url.hostPort} in ${store.path}\n`);
  if (!portGiven) {
    // `forget HOST` means port 1965: say which other ports of HOST keep a pin.
    const hostPart = url.hostPort.slice(0, url.hostPort.lastIndexOf(':'));
    const others = (await store.hostPortsOf(hostPart)).filter((hostPort) => hostPort !== url.hostPort);
    if (others.length > 0) {
      const ports = others.map((hostPort) => hostPort.slice(hostPart.length + 1));
      io.stderr.write(
        `gemfetch: ${plain(hostPart)} is ${removed ? 'also ' : ''}pinned on port${ports.length === 1 ? '' : 's'} ${ports.join(', ')}: ` +
          `forget ${ports.length === 1 ? 'it' : 'each'} with \`gemfetch tofu forget ${plain(others[0]!)}\`\n`,
      );
    }
  }
  return ExitCode.Ok;
}

async function pin(store: KnownHostsStore, url: GeminiUrl, fingerprint: string, io: CliIo): Promise<number> {
  const old = await store.get(url.hostPort).catch((err: unknown) => {
    if (err instanceof KnownHostsError) return 'damaged' as const;
    throw err;
  });
  await store.pin({ hostPort: url.hostPort, fingerprint, expires: OUT_OF_BAND_PIN_EXPIRY, added: new Date() });
  const lines = [`pinned ${url.hostPort}: public key sha256 ${fingerprint}`, '  given by hand: the pin does not expire; any other key is refused until you trust or pin it'];
  if (old === 'damaged') lines.push('  (the known-hosts file has damaged lines: see `gemfetch tofu check`)');
  else if (old && old.fingerprint !== fingerprint) lines.push(`  replaced the previous pin ${old.fingerprint} (valid until ${day(old.expires)})`);
  else if (old) lines.push('  (the same key was already pinned; it no longer expires)');
  io.stdout.write(`${lines.join('\n')}\n`);
  return ExitCode.Ok;
}

async function trust(store: KnownHostsStore, url: GeminiUrl, args: TofuArgs, io: CliIo): Promise<number> {
  if (args.ipv4 && args.ipv6) throw new UsageError('-4 and -6 cannot be used together');
  const timeout = args.connectTimeout !== undefined ? parseDuration(args.connectTimeout, '--connect-timeout') || Infinity : 15_000;
  let fingerprint: string;
  let expires: Date;
  let subject: string;
  try {
    const connection = await connectTls({
      host: url.host,
      port: url.port,
      servername: url.servername,
      family: args.ipv4 ? 4 : args.ipv6 ? 6 : 0,
      connectTimeout: timeout,
      handshakeTimeout: timeout,
      url: url.href,
    });
    try {
      const cert = connection.socket.getPeerX509Certificate();
      if (!cert) throw new Error(`${url.hostPort} presented no certificate`);
      fingerprint = publicKeyFingerprint(cert);
      expires = new Date(cert.validTo);
      subject = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? cert.subject;
    } finally {
      connection.destroy();
    }
  } catch (err) {
    io.stderr.write(`${formatMessage({ what: 'cannot get the certificate', which: url.hostPort, why: plain((err as Error).message) })}\n`);
    return ExitCode.Network;
  }
  // A damaged file does not stop an explicit pin: it replaces a damaged line of this host.
  const old = await store.get(url.hostPort).catch((err: unknown) => {
    if (err instanceof KnownHostsError) return 'damaged' as const;
    throw err;
  });
  await store.pin({ hostPort: url.hostPort, fingerprint, expires, added: new Date() });
  const lines = [`pinned ${url.hostPort}: public key sha256 ${fingerprint}`, `  certificate CN=${plain(subject)}, valid until ${day(expires)}`];
  if (old === 'damaged') lines.push('  (the known-hosts file has damaged lines: see `gemfetch tofu check`)');
  else if (old && old.fingerprint !== fingerprint) lines.push(`  replaced the previous pin ${old.fingerprint} (valid until ${day(old.expires)})`);
  else if (old) lines.push('  (the same key was already pinned)');
  io.stdout.write(`${lines.join('\n')}\n`);
  return ExitCode.Ok;
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}
