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
export { Client, fetch, request, upload, getDefaultClient, DEFAULT_TIMEOUTS, DEFAULT_FETCH_MAX_BYTES, DEFAULT_FETCH_TOTAL_TIMEOUT, DEFAULT_MAX_REDIRECTS } from './net/client.js';
export type { ClientOptions, RequestOptions, TrustMode } from './net/client.js';
export type { Timeouts } from './net/request.js';
export { DEFAULT_DNS_CACHE_TTL } from './net/dns-cache.js';
export type { LookupFunction } from './net/dns-cache.js';
export { GeminiResponse } from './net/response.js';
export type { Completion, PeerInfo, ResponseFields, StreamingResponse, Termination, TlsInfo, Timings } from './net/response.js';
export * from './errors.js';
export { parseGeminiUrl, resolveReference, withInput, fromUserInput, MAX_REQUEST_BYTES } from './protocol/url.js';
export type { GeminiUrl } from './protocol/url.js';
export { parseTitanUrl, titanRequest, encodeTitanToken, geminiUrlOf, isTitanMime, DEFAULT_TITAN_MIME } from './protocol/titan-url.js';
export type { TitanUrl, TitanParameters, TitanRequest } from './protocol/titan-url.js';
export { UploadResponse } from './net/titan.js';
export type { UploadBody, UploadOptions, UploadReport } from './net/titan.js';
export { parseHeaderLine, findHeaderEnd, MAX_META_BYTES, MAX_HEADER_BYTES } from './protocol/header.js';
export type { ResponseHeader } from './protocol/header.js';
export { parseMimeType } from './protocol/mime.js';
export type { MimeType } from './protocol/mime.js';
export * from './protocol/status.js';
export { decodeBody, isKnownCharset, createStreamDecoder } from './protocol/charset.js';
export type { DecodedBody, StreamDecoder } from './protocol/charset.js';
export { KnownHostsStore, defaultKnownHostsPath, publicKeyFingerprint } from './trust/tofu.js';
export type { KnownHost, KnownHostsCheck, PresentedCertificate, TrustDecision } from './trust/tofu.js';
export { decideTrust } from './trust/trust-store.js';
export type { TrustStore } from './trust/trust-store.js';
export { MemoryTrustStore, DEFAULT_MEMORY_STORE_MAX_PINS } from './trust/memory-store.js';
export type { MemoryTrustStoreOptions } from './trust/memory-store.js';
export { connectTls } from './net/transport.js';
export type { StreamEnd, TlsConnection, TlsConnectOptions } from './net/transport.js';
export { IdentityStore, defaultIdentitiesDir, isValidIdentityName, DEFAULT_DAYS as DEFAULT_IDENTITY_DAYS } from './trust/identity-store.js';
export type { IdentityInfo, IdentityMaterial, CreateIdentityOptions, IdentityStoreOptions } from './trust/identity-store.js';
export { parseScope, formatScope, scopeCovers, mostSpecificScope } from './trust/identity-scope.js';
export type { IdentityScope, ScopeTarget } from './trust/identity-scope.js';
export type { IdentityResolver, IdentitySource, ResolvedIdentity, SentIdentity } from './trust/identity-resolve.js';
export { createCertificate } from './trust/selfsigned.js';
export type { CertificateOptions, GeneratedCertificate } from './trust/selfsigned.js';
export { GemtextParser, parseGemtext, extractLinks } from './protocol/gemtext.js';
export type { GemtextLine } from './protocol/gemtext.js';
export { parseRobots } from './protocol/robots.js';
export type { RobotsRules } from './protocol/robots.js';
export { fetchToRecord, responseRecord, errorRecord } from './net/record.js';
export type { FetchRecord, RecordFetchOptions } from './net/record.js';
export { DEFAULT_SLOW_DOWN_RETRIES } from './bulk/bulk.js';
export type { BulkOptions } from './bulk/bulk.js';
export { batch, DEFAULT_BATCH_RETRIES } from './bulk/batch.js';
export type { BatchRecord, BatchOptions } from './bulk/batch.js';
export {
  crawl,
  ERR_ROBOTS_DISALLOWED,
  DEFAULT_CRAWL_DELAY,
  DEFAULT_CRAWL_RETRIES,
  DEFAULT_MAX_DEPTH,
  DEFAULT_CRAWL_MAX_BYTES,
  DEFAULT_CRAWL_TOTAL_TIMEOUT,
} from './bulk/crawl.js';
export type { CrawlOptions, CrawlRecord, CrawlScope, CrawlStats, RobotsAgent } from './bulk/crawl.js';
export { survey, summarizeSurvey, formatSurveySummary, DEFAULT_SURVEY_RETRIES } from './bulk/survey.js';
export type { SurveyOptions, SurveyRecord, SurveySummary, SurveyCheck } from './bulk/survey.js';
export { ERR_HOST_SET_ASIDE } from './bulk/host-scheduler.js';
export type { HostPolicy } from './bulk/host-scheduler.js';
export { WarcWriter } from './files/warc.js';
export type { WarcExchange, WarcExchangeIds, WarcWriterOptions } from './files/warc.js';
// Crawl etiquette and the close_notify census (issue 12)
export { ERR_ADDRESS_REFUSED } from './bulk/address-guard.js';
export { addressClass, ADDRESS_CLASSES } from './net/address-class.js';
export type { AddressClass } from './net/address-class.js';
export { DEFAULT_MAX_PAGES_PER_HOST, DEFAULT_MAX_URL_LENGTH, DEFAULT_MAX_PATH_DEPTH, DEFAULT_MAX_SEGMENT_REPEATS, TRAP_KINDS } from './bulk/trap-guards.js';
export type { TrapKind, TrapCounts, TrapGuardOptions } from './bulk/trap-guards.js';
export { DEFAULT_ROBOTS_TTL, MAX_ROBOTS_BYTES } from './bulk/robots-cache.js';
export { census, CensusCounter, formatCensusTable, formatCensusChart } from './bulk/census.js';
export type { Census, CensusLine, CensusInput, CensusSplit, UriFigures, CapsuleFigures } from './bulk/census.js';
