/**
 * gemfetch: a Gemini protocol client that tells you, for every response,
 * whether it arrived whole (the server's TLS close_notify) or was cut.
 *
 * ```ts
 * import { fetch } from 'gemfetch';
 * const res = await fetch('gemini://geminiprotocol.net/');
 * if (!res.complete) console.warn(`incomplete: ${res.termination}`);
 * ```
 */
export { Client, fetch, request, getDefaultClient, DEFAULT_TIMEOUTS, DEFAULT_FETCH_MAX_BYTES, DEFAULT_FETCH_TOTAL_TIMEOUT, DEFAULT_MAX_REDIRECTS } from './client.js';
export type { ClientOptions, RequestOptions, TrustMode } from './client.js';
export type { Timeouts } from './request.js';
export { DEFAULT_DNS_CACHE_TTL } from './dns-cache.js';
export type { LookupFunction } from './dns-cache.js';
export { GeminiResponse } from './response.js';
export type { Completion, PeerInfo, ResponseFields, StreamingResponse, Termination, TlsInfo, Timings } from './response.js';
export * from './errors.js';
export { parseGeminiUrl, resolveReference, withInput, fromUserInput, MAX_REQUEST_BYTES } from './url.js';
export type { GeminiUrl } from './url.js';
export { parseHeaderLine, findHeaderEnd, MAX_META_BYTES, MAX_HEADER_BYTES } from './header.js';
export type { ResponseHeader } from './header.js';
export { parseMimeType } from './mime.js';
export type { MimeType } from './mime.js';
export * from './status.js';
export { decodeBody, isKnownCharset, createStreamDecoder } from './charset.js';
export type { DecodedBody, StreamDecoder } from './charset.js';
export { KnownHostsStore, defaultKnownHostsPath, publicKeyFingerprint } from './tofu.js';
export type { KnownHost, KnownHostsCheck, PresentedCertificate, TrustDecision } from './tofu.js';
export { connectTls } from './transport.js';
export type { StreamEnd, TlsConnection, TlsConnectOptions } from './transport.js';
export { createCertificate } from './selfsigned.js';
export type { CertificateOptions, GeneratedCertificate } from './selfsigned.js';
export { GemtextParser, parseGemtext, extractLinks } from './gemtext.js';
export type { GemtextLine } from './gemtext.js';
export { parseRobots } from './robots.js';
export type { RobotsRules } from './robots.js';
export { fetchToRecord, responseRecord, errorRecord } from './record.js';
export type { FetchRecord, RecordFetchOptions } from './record.js';
export { DEFAULT_SLOW_DOWN_RETRIES } from './bulk.js';
export type { BulkOptions } from './bulk.js';
export { batch, DEFAULT_BATCH_RETRIES } from './batch.js';
export type { BatchRecord, BatchOptions } from './batch.js';
export {
  crawl,
  ERR_ROBOTS_DISALLOWED,
  DEFAULT_CRAWL_DELAY,
  DEFAULT_CRAWL_RETRIES,
  DEFAULT_MAX_DEPTH,
  DEFAULT_CRAWL_MAX_BYTES,
  DEFAULT_CRAWL_TOTAL_TIMEOUT,
} from './crawl.js';
export type { CrawlOptions, CrawlRecord, CrawlScope, CrawlStats, RobotsAgent } from './crawl.js';
export { survey, summarizeSurvey, formatSurveySummary, DEFAULT_SURVEY_RETRIES } from './survey.js';
export type { SurveyOptions, SurveyRecord, SurveySummary, SurveyCheck } from './survey.js';
export { ERR_HOST_SET_ASIDE } from './host-scheduler.js';
export type { HostPolicy } from './host-scheduler.js';
export { WarcWriter } from './warc.js';
export type { WarcExchange, WarcExchangeIds, WarcWriterOptions } from './warc.js';
