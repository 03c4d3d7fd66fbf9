/**
 * The close_notify survey: for each capsule, fetch its root (and optionally a
 * page that does not exist) and report whether it ends responses with TLS
 * close_notify, plus its TLS version, cipher and certificate.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '../net/client.js';
import { SURVEY_OPTION_RULES, validateOptions } from '../options.js';
import { classifyRecord, HostScheduler } from './host-scheduler.js';
import { errorRecord, type FetchRecord } from '../net/record.js';
import { fromUserInput, parseGeminiUrl, type GeminiUrl } from '../protocol/url.js';
import { deliver, DEFAULT_SLOW_DOWN_RETRIES, fetchAttempt, linkedController, RecordChannel, setAsideRecord, Wakeup, type Attempt, type BulkOptions, checkUrlSource } from './bulk.js';
import { cutByAbort, interruptedRecord } from './interrupt-record.js';

/** Options of {@link survey}. */
export interface SurveyOptions extends BulkOptions {
  /** Also request a page that does not exist, to see how error pages end (default false). */
  missing?: boolean;
  /** Hosts read ahead of their completion (default 10 000): at most this many are held at once, however long the input. */
  readAhead?: number;
}

/** One request of a survey. */
export interface SurveyCheck {
  url: string;
  status: number | null;
  meta: string | null;
  complete: boolean;
  termination: FetchRecord['termination'];
  bytes: number;
  error: FetchRecord['error'];
}

/** One line of `gemfetch survey`. */
export interface SurveyRecord {
  /** The host as given. */
  host: string;
  /** `host:port` surveyed; null when the input was not a valid host. */
  hostPort: string | null;
  /** The request of `/` (redirects followed as `requestOptions` say). */
  root: SurveyCheck;
  /** The request of a missing page, when asked for. */
  missing: SurveyCheck | null;
  /** For a 2x root: whether it ended with close_notify; null when the root was not 2x. */
  closeNotifyOnSuccess: boolean | null;
  /**
   * For the first 4x/5x answer (the missing page, else the root): whether it
   * ended with close_notify; null when no error page was seen.
   */
  closeNotifyOnError: boolean | null;
  tls: { protocol: string; cipher: string; resumed: boolean } | null;
  certificate: {
    subject: string;
    issuer: string;
    /** Self-signed: TlsInfo says so, or subject CN = issuer CN. */
    selfSigned: boolean;
    notAfter: string;
    expired: boolean;
    fingerprint: string;
  } | null;
  /** Set when no request got a response (the root's error). */
  error: FetchRecord['error'];
}

/** Counts over a survey. */
export interface SurveySummary {
  capsules: number;
  /** Capsules that answered at least once. */
  reachable: number;
  /** Capsules whose root answered 2x. */
  successChecked: number;
  closeNotifyOnSuccess: number;
  /** Capsules where an error page (4x/5x) was seen. */
  errorChecked: number;
  closeNotifyOnError: number;
  tlsVersions: Record<string, number>;
  selfSigned: number;
  caIssued: number;
  expired: number;
}

/** Default retries of a survey request. */
export const DEFAULT_SURVEY_RETRIES = 0;

/**
 * Surveys every host (a name, `name:port`, or a gemini URL whose host:port is
 * taken) and yields one {@link SurveyRecord} per input, in completion order.
 * Certificates are not pinned unless `requestOptions.trust` says otherwise
 * (default `insecure`: a survey observes, it does not decide trust).
 * Politeness as in {@link HostScheduler}: the root and the missing page of a
 * host are requested one after the other, `delay` apart. Bodies are hashed,
 * never kept. Every input yields exactly one record unless the consumer stops
 * early; when `signal` aborts, reading stops and every host already read
 * still yields its record, the requests cut short with `error.code`
 * `ERR_ABORTED` (see {@link interruptedRecord}). A slow consumer slows the
 * run: at most `readAhead` hosts are held.
 * An invalid option rejects the first `next()` with `ERR_INVALID_OPTION` (see options.ts), and so
 * does `hosts` when it is not an iterable of strings (a lone string is refused: it would be
 * read one character at a time); an element that is not a string gets a record with `ERR_INVALID_URL`.
 */
export async function* survey(hosts: Iterable<string> | AsyncIterable<string>, options: SurveyOptions = {}): AsyncGenerator<SurveyRecord> {
  checkUrlSource(hosts, 'survey hosts');
  validateOptions(options, SURVEY_OPTION_RULES, 'survey options');
  const client = options.client ?? new Client();
  const controller = linkedController(options.signal);
  const requestOptions = { trust: 'insecure' as const, totalTimeout: 30_000, maxBytes: 1024 * 1024, ...options.requestOptions, signal: controller.signal };
  const retries = options.retries ?? DEFAULT_SURVEY_RETRIES;
  const slowDownRetries = options.slowDownRetries ?? DEFAULT_SLOW_DOWN_RETRIES;
  const readAhead = Math.max(1, options.readAhead ?? 10_000);
  const out = new RecordChannel<SurveyRecord>();
  const scheduler = new HostScheduler(options, () => out.length < 256);
  const room = new Wakeup();
  out.onPull = () => {
    scheduler.pump();
    room.wake();
  };
  let outstanding = 1; // held until all input is read
  /** Hosts read and not yet reported, with what reports one if the run is interrupted. */
  const inProgress = new Map<HostInProgress, () => void>();
  const report = (record: SurveyRecord): void => {
    out.push(record);
    if (--outstanding === 0) out.end();
  };

  /** Queues one request of `host`; `then` gets its final attempt (cut short by an interrupt: see {@link interruptedRecord}). */
  const request = (host: HostInProgress, href: string, then: (got: Attempt) => void, setAside: (reason: string) => void): void => {
    scheduler.submit({
      hostKey: host.hostKey,
      run: async (attempt) => {
        host.running = true;
        const got = await fetchAttempt(client, href, requestOptions);
        host.running = false;
        const outcome = classifyRecord(got.record, attempt, retries, slowDownRetries);
        if (controller.signal.aborted) {
          const retried = outcome.retry && !cutByAbort(got.record);
          then({ ...got, record: interruptedRecord(href, got.record, retried) });
          return { ...outcome, retry: false };
        }
        if (outcome.retry) return outcome;
        then(got);
        return { ...outcome, retry: false };
      },
      setAside,
    });
  };

  const surveyHost = (input: string): void => {
    outstanding++;
    let url: GeminiUrl;
    try {
      url = parseGeminiUrl(`gemini://${parseGeminiUrl(fromUserInput(input)).hostPort}/`);
    } catch (err) {
      report(buildRecord(input, null, { record: errorRecord(input, err), response: undefined, body: undefined }, null));
      return;
    }
    const asideRecord = (reason: string): Attempt => ({ record: setAsideRecord(url.href, reason), response: undefined, body: undefined });
    const host: HostInProgress = { hostKey: url.hostPort, running: false, root: undefined };
    const done = (root: Attempt, missing: Attempt | null): void => {
      if (!inProgress.delete(host)) return;
      report(buildRecord(input, url, root, missing));
    };
    // an interrupt reports a host at once unless one of its requests is running (that one reports when it ends)
    inProgress.set(host, () => {
      if (host.running) return;
      const cut: Attempt = { record: interruptedRecord(url.href, undefined), response: undefined, body: undefined };
      if (host.root) done(host.root, cut);
      else done(cut, null);
    });
    if (controller.signal.aborted) return inProgress.get(host)!(); // read as the run was interrupted
    request(
      host,
      url.href,
      (root) => {
        host.root = root;
        if (!options.missing || root.response === undefined || controller.signal.aborted) {
          done(root, null);
          return;
        }
        const missingHref = `gemini://${url.hostPort}/gemfetch-survey-missing-${randomBytes(6).toString('hex')}`;
        request(
          host,
          parseGeminiUrl(missingHref).href,
          (missing) => done(root, missing),
          (reason) => done(root, asideRecord(reason)),
        );
      },
      (reason) => done(asideRecord(reason), null),
    );
  };

  controller.signal.addEventListener(
    'abort',
    () => {
      scheduler.stop();
      for (const reportNow of [...inProgress.values()]) reportNow();
      room.wake();
      if (outstanding === 0) out.end();
    },
    { once: true },
  );
  yield* deliver(out, controller, async () => {
    for await (const raw of hosts) {
      const host = typeof raw === 'string' ? raw.trim() : raw; // not a string: its record says ERR_INVALID_URL
      if (host !== '') surveyHost(host); // a host read is owed a record, even when the run was just interrupted
      if (controller.signal.aborted) break;
      while (outstanding - 1 + out.length >= readAhead && !controller.signal.aborted) await room.wait();
    }
    if (--outstanding === 0) out.end();
  });
}

/** A host being surveyed. */
interface HostInProgress {
  hostKey: string;
  /** Whether one of its requests is running now. */
  running: boolean;
  /** Its root's final attempt, once known. */
  root: Attempt | undefined;
}

function check(got: Attempt): SurveyCheck {
  const r = got.record;
  return { url: r.finalUrl ?? r.url, status: r.status, meta: r.meta, complete: r.complete, termination: r.termination, bytes: r.bytes, error: r.error };
}

function isErrorPage(c: SurveyCheck | null): c is SurveyCheck {
  return c !== null && c.status !== null && (Math.floor(c.status / 10) === 4 || Math.floor(c.status / 10) === 5);
}

function buildRecord(host: string, url: GeminiUrl | null, root: Attempt, missing: Attempt | null): SurveyRecord {
  const rootCheck = check(root);
  const missingCheck = missing ? check(missing) : null;
  const errorPage = isErrorPage(missingCheck) ? missingCheck : isErrorPage(rootCheck) ? rootCheck : null;
  const tls = root.response?.tls ?? missing?.response?.tls;
  const rootOk = rootCheck.status !== null && Math.floor(rootCheck.status / 10) === 2;
  return {
    host,
    hostPort: url?.hostPort ?? null,
    root: rootCheck,
    missing: missingCheck,
    closeNotifyOnSuccess: rootOk ? rootCheck.termination === 'close_notify' : null,
    closeNotifyOnError: errorPage ? errorPage.termination === 'close_notify' : null,
    tls: tls ? { protocol: tls.protocol, cipher: tls.cipher, resumed: tls.resumed } : null,
    certificate: tls
      ? {
          subject: tls.certificate.subject,
          issuer: tls.certificate.issuer,
          // TlsInfo.selfSigned relies on X509Certificate.checkIssued, which is false for leaf
          // certificates without keyCertSign; same subject and issuer CN is the fallback
          selfSigned: tls.certificate.selfSigned || tls.certificate.subject === tls.certificate.issuer,
          notAfter: tls.certificate.validTo.toISOString(),
          expired: tls.certificate.validTo.getTime() < Date.now(),
          fingerprint: tls.fingerprint,
        }
      : null,
    error: root.response || missing?.response ? null : rootCheck.error,
  };
}

/** Counts a survey's records. */
export function summarizeSurvey(records: Iterable<SurveyRecord>): SurveySummary {
  const summary = emptySurveySummary();
  for (const r of records) addToSurveySummary(summary, r);
  return summary;
}

/** The summary of no record, to count records into one at a time with {@link addToSurveySummary}. */
export function emptySurveySummary(): SurveySummary {
  return {
    capsules: 0,
    reachable: 0,
    successChecked: 0,
    closeNotifyOnSuccess: 0,
    errorChecked: 0,
    closeNotifyOnError: 0,
    tlsVersions: {},
    selfSigned: 0,
    caIssued: 0,
    expired: 0,
  };
}

/** Counts one record into `summary` (so a long survey needs no list of its records). */
export function addToSurveySummary(summary: SurveySummary, r: SurveyRecord): void {
  summary.capsules++;
  if (r.tls === null) return;
  summary.reachable++;
  summary.tlsVersions[r.tls.protocol] = (summary.tlsVersions[r.tls.protocol] ?? 0) + 1;
  if (r.closeNotifyOnSuccess !== null) {
    summary.successChecked++;
    if (r.closeNotifyOnSuccess) summary.closeNotifyOnSuccess++;
  }
  if (r.closeNotifyOnError !== null) {
    summary.errorChecked++;
    if (r.closeNotifyOnError) summary.closeNotifyOnError++;
  }
  if (r.certificate?.selfSigned) summary.selfSigned++;
  else if (r.certificate) summary.caIssued++;
  if (r.certificate?.expired) summary.expired++;
}

/**
 * The summary as a small text table (for stderr). The headline and the table
 * use the same denominators, each stated: capsules whose root answered 2x for
 * success, error pages seen for errors; then how many were surveyed and
 * reachable. First line: "N of M capsules answering 2x send close_notify on
 * success; K of L error pages seen end with it (T surveyed, R reachable)".
 */
export function formatSurveySummary(s: SurveySummary): string {
  const versions = Object.entries(s.tlsVersions)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([v, n]) => `${v} ${n}`)
    .join(', ');
  const rows: Array<[string, string]> = [
    ['capsules', String(s.capsules)],
    ['reachable', String(s.reachable)],
    ['close_notify on success', `${s.closeNotifyOnSuccess} of ${s.successChecked} answering 2x`],
    ['close_notify on error pages', `${s.closeNotifyOnError} of ${s.errorChecked} error pages seen`],
    ['TLS versions', versions || '-'],
    ['certificates', `${s.selfSigned} self-signed, ${s.caIssued} CA-issued, ${s.expired} expired`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `${s.closeNotifyOnSuccess} of ${s.successChecked} capsules answering 2x send close_notify on success; ` +
      `${s.closeNotifyOnError} of ${s.errorChecked} error pages seen end with it (${s.capsules} surveyed, ${s.reachable} reachable)`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
  ].join('\n');
}
