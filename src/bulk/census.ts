/**
 * The close_notify census: from a crawl's records, the share of URIs and of
 * capsules whose responses ended with TLS close_notify, overall and split by
 * status class, TLS version and certificate issuer. Pure: records in, figures
 * out (the CLI reads them from a crawl's journal or output file).
 *
 * How each figure is computed (also in the README):
 * - Only records with a response count (a header arrived: `status` and
 *   `termination` set). A response whose end gemfetch itself decided (cut at
 *   a size limit, a timeout, an interrupt: `size_limit`, `timeout`,
 *   `aborted`) says nothing about the server and is counted as
 *   `undetermined`, outside every share.
 * - URIs: `closeNotify / total`, where total is the determined responses and
 *   closeNotify those whose `termination` is `close_notify` (a `tcp_fin`,
 *   `tcp_reset` or `tls_error` ending is "without").
 * - Capsules (one per `host:port`): within each group, a capsule is `always`
 *   when all its determined responses in the group ended with close_notify,
 *   `never` when none did, `sometimes` otherwise; the capsule share is
 *   `always / total`.
 * - Splits: status class (`2x`, `5x`...), TLS version (`tls.protocol`), and
 *   certificate issuer (`self-signed`, or the issuer's CN). A capsule counts
 *   once in each group it has responses in. ALPN cannot be told: gemfetch
 *   offers none, so no server negotiates one.
 */

/** The fields of a record the census reads (a crawl or batch record has them). */
export interface CensusInput {
  url: string;
  status: number | null;
  termination: string | null;
  tls: { protocol: string } | null;
  /** Certificate facts (crawl records have them; absent: issuer unknown). */
  certificate?: { issuer: string; selfSigned: boolean } | null;
}

/** URI figures of one group. */
export interface UriFigures {
  total: number;
  closeNotify: number;
  /** closeNotify / total, 0 when total is 0. */
  share: number;
}

/** Capsule figures of one group. */
export interface CapsuleFigures {
  total: number;
  always: number;
  sometimes: number;
  never: number;
  /** always / total, 0 when total is 0. */
  share: number;
}

/** The dimensions figures are split by. */
export type CensusSplit = 'all' | 'status' | 'tls' | 'issuer';

/** One line of the census: the figures of one group. */
export interface CensusLine {
  by: CensusSplit;
  /** The group: `all`, `2x`, `TLSv1.3`, `self-signed`, an issuer CN, `unknown`. */
  key: string;
  uris: UriFigures;
  capsules: CapsuleFigures;
}

/** The census of a set of records. */
export interface Census {
  /** Records read. */
  records: number;
  /** Records without a response (errors before a header). */
  noResponse: number;
  /** Responses whose end gemfetch decided (size limit, timeout, interrupt). */
  undetermined: number;
  /**
   * Records left out because they are not records of gemfetch (from a damaged
   * journal or file): not an object, no string `url`, a `status` that is not
   * a two-digit integer or null, a `termination` that is not a string or null.
   */
  malformed: number;
  /** `all` first, then each split's groups, largest first. */
  lines: CensusLine[];
}

const UNDETERMINED = new Set(['size_limit', 'timeout', 'aborted']);
const SPLITS: readonly CensusSplit[] = ['all', 'status', 'tls', 'issuer'];

/**
 * Accumulates records one at a time (memory: two counters per capsule and
 * group, never the records). {@link result} can be called at any time.
 */
export class CensusCounter {
  #records = 0;
  #noResponse = 0;
  #undetermined = 0;
  #malformed = 0;
  /** `by \0 key` -> host -> [responses, with close_notify]. */
  readonly #groups = new Map<string, Map<string, [number, number]>>();

  /** Counts one record (a malformed one, see {@link Census.malformed}, only as such: it never throws). */
  add(record: CensusInput): void {
    this.#records++;
    if (!isCensusInput(record)) {
      this.#malformed++;
      return;
    }
    if (record.status === null || record.termination === null) {
      this.#noResponse++;
      return;
    }
    if (UNDETERMINED.has(record.termination)) {
      this.#undetermined++;
      return;
    }
    const host = hostOf(record.url);
    const closed = record.termination === 'close_notify' ? 1 : 0;
    const cert = record.certificate;
    const keys: Record<CensusSplit, string> = {
      all: 'all',
      status: `${Math.floor(record.status / 10)}x`,
      tls: record.tls?.protocol ?? 'unknown',
      issuer: cert == null ? 'unknown' : cert.selfSigned ? 'self-signed' : cert.issuer || 'unknown',
    };
    for (const by of SPLITS) {
      const id = `${by}\0${keys[by]}`;
      let hosts = this.#groups.get(id);
      if (hosts === undefined) this.#groups.set(id, (hosts = new Map()));
      const counts = hosts.get(host);
      if (counts === undefined) hosts.set(host, [1, closed]);
      else {
        counts[0]++;
        counts[1] += closed;
      }
    }
  }

  /** The figures so far. */
  result(): Census {
    const lines: CensusLine[] = [];
    for (const [id, hosts] of this.#groups) {
      const [by, key] = id.split('\0') as [CensusSplit, string];
      const uris: UriFigures = { total: 0, closeNotify: 0, share: 0 };
      const capsules: CapsuleFigures = { total: 0, always: 0, sometimes: 0, never: 0, share: 0 };
      for (const [n, closed] of hosts.values()) {
        uris.total += n;
        uris.closeNotify += closed;
        capsules.total++;
        if (closed === n) capsules.always++;
        else if (closed === 0) capsules.never++;
        else capsules.sometimes++;
      }
      uris.share = uris.total ? uris.closeNotify / uris.total : 0;
      capsules.share = capsules.total ? capsules.always / capsules.total : 0;
      lines.push({ by, key, uris, capsules });
    }
    lines.sort((a, b) => SPLITS.indexOf(a.by) - SPLITS.indexOf(b.by) || b.uris.total - a.uris.total || a.key.localeCompare(b.key));
    if (!lines.some((l) => l.by === 'all')) {
      lines.unshift({ by: 'all', key: 'all', uris: { total: 0, closeNotify: 0, share: 0 }, capsules: { total: 0, always: 0, sometimes: 0, never: 0, share: 0 } });
    }
    return { records: this.#records, noResponse: this.#noResponse, undetermined: this.#undetermined, malformed: this.#malformed, lines };
  }
}

/** Whether `record` has the fields the census reads, of the types a gemfetch record gives them. */
function isCensusInput(record: unknown): record is CensusInput {
  if (record === null || typeof record !== 'object') return false;
  const { url, status, termination } = record as Record<string, unknown>;
  if (typeof url !== 'string') return false;
  if (status !== null && !(typeof status === 'number' && Number.isInteger(status) && status >= 10 && status <= 99)) return false;
  return termination === null || typeof termination === 'string';
}

/** The census of `records` (sync or async iterable). */
export async function census(records: Iterable<CensusInput> | AsyncIterable<CensusInput>): Promise<Census> {
  const counter = new CensusCounter();
  for await (const record of records) counter.add(record);
  return counter.result();
}

/** `host:port` of a gemini URL as a record holds it (the authority, without userinfo; default port added). */
function hostOf(url: string): string {
  const start = url.indexOf('//');
  if (start < 0) return url;
  let end = url.indexOf('/', start + 2);
  if (end < 0) end = url.length;
  const authority = url.slice(start + 2, end).toLowerCase();
  const close = authority.lastIndexOf(']');
  return authority.indexOf(':', close + 1) >= 0 ? authority : `${authority}:1965`;
}

const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;

/**
 * The census as a plain-text table: one row per group, with the URI share
 * (close_notify / determined responses) and the capsule share (always /
 * capsules) and counts, then a line saying what was left out.
 */
export function formatCensusTable(c: Census): string {
  const rows = [['split', 'group', 'URIs', 'close_notify', 'capsules', 'always', 'sometimes', 'never']];
  for (const l of c.lines) {
    rows.push([l.by, l.key, String(l.uris.total), percent(l.uris.share), String(l.capsules.total), percent(l.capsules.share), String(l.capsules.sometimes), String(l.capsules.never)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const text = rows.map((r) => r.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
  const malformed = c.malformed > 0 ? `, ${c.malformed} malformed (not gemfetch records)` : '';
  text.push(`${c.records} records: ${c.records - c.noResponse - c.undetermined - c.malformed} responses counted, ${c.noResponse} without a response, ${c.undetermined} cut by gemfetch (size limit, timeout, interrupt)${malformed} left out`);
  return text.join('\n');
}

/**
 * A small bar chart of the URI and capsule shares of each group, `width`
 * characters of bar (for a terminal).
 */
export function formatCensusChart(c: Census, width = 30): string {
  const bar = (share: number): string => {
    const full = Math.round(share * width);
    return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
  };
  const labelWidth = Math.max(...c.lines.map((l) => `${l.by} ${l.key}`.length));
  const out = [`close_notify share: URIs | capsules (always)`];
  for (const l of c.lines) {
    out.push(`${`${l.by} ${l.key}`.padEnd(labelWidth)}  ${bar(l.uris.share)} ${percent(l.uris.share).padStart(6)} | ${bar(l.capsules.share)} ${percent(l.capsules.share).padStart(6)}`);
  }
  return out.join('\n');
}
