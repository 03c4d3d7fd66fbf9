/**
 * X.509 v3 certificate generation with no third-party code.
 *
 * Node's crypto can create keys and signatures but not certificates, so this
 * module carries a minimal DER encoder and assembles the certificate itself.
 * Used by `gemfetch demo` at run time and by the test fixtures.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { InvalidOptionError } from '../errors.js';

/** Key algorithms {@link createCertificate} can generate or reuse. */
export type CertificateKeyType = 'ec-p256' | 'ed25519' | 'rsa-2048';

/** What to put in a certificate made by {@link createCertificate}. */
export interface CertificateOptions {
  /** Subject common name (CN). Must not be empty. */
  commonName: string;
  /** subjectAltName dNSName entries. */
  dnsNames?: string[];
  /** subjectAltName iPAddress entries (IPv4 or IPv6 literals). */
  ipAddresses?: string[];
  /** Start of validity; default one hour ago. */
  notBefore?: Date;
  /** End of validity; default notBefore + 365 days. May be in the past (expired certificates). */
  notAfter?: Date;
  /** Key algorithm; default `ec-p256`. Ignored in favour of the key's own type when `keyPem` is given (an explicit, different type is an error). */
  keyType?: CertificateKeyType;
  /** Make a CA certificate: basicConstraints cA=true, keyUsage keyCertSign + cRLSign. */
  isCA?: boolean;
  /** Sign with this CA (PEM certificate and PEM private key) instead of self-signing. */
  issuer?: { cert: string; key: string };
  /** Reuse this private key (PEM) instead of generating one: same key, new certificate ("renewal"). */
  keyPem?: string;
}

/** A certificate made by {@link createCertificate}. */
export interface GeneratedCertificate {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PEM (PKCS#8). */
  key: string;
  /** SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex without separators. */
  fingerprint: string;
  /** End of validity as encoded (whole seconds). */
  notAfter: Date;
}

/**
 * Creates an X.509 v3 certificate and, unless `keyPem` is given, a fresh key.
 *
 * Guarantees: a 16-byte positive random serial; signature ecdsa-with-SHA256,
 * Ed25519 or sha256WithRSAEncryption according to the *signer's* key;
 * extensions basicConstraints (critical), keyUsage (critical),
 * subjectKeyIdentifier, authorityKeyIdentifier, and for non-CA certificates
 * extKeyUsage serverAuth + clientAuth, plus subjectAltName when names are
 * given. Times are encoded as UTCTime before 2050, GeneralizedTime after, and
 * truncated to whole seconds. Synchronous; `rsa-2048` generation can take
 * hundreds of milliseconds, the others about a millisecond.
 *
 * @throws InvalidOptionError for an empty commonName, an invalid IP address,
 *   notAfter before notBefore, or a keyType that contradicts keyPem.
 */
export function createCertificate(options: CertificateOptions): GeneratedCertificate {
  if (!options.commonName) throw new InvalidOptionError('commonName must not be empty');
  const privateKey = options.keyPem ? loadKey(options.keyPem, options.keyType) : generateKey(options.keyType ?? 'ec-p256');
  const publicKey = crypto.createPublicKey(privateKey);
  const spki = publicKey.export({ type: 'spki', format: 'der' });

  const notBefore = truncateToSeconds(options.notBefore ?? new Date(Date.now() - 3600_000));
  const notAfter = truncateToSeconds(options.notAfter ?? new Date(notBefore.getTime() + 365 * 86400_000));
  if (notAfter.getTime() < notBefore.getTime()) throw new InvalidOptionError('notAfter is before notBefore');

  const subject = encodeName(options.commonName);
  let issuerName = subject;
  let signingKey = privateKey;
  let issuerSpki = spki;
  if (options.issuer) {
    const issuerCert = new crypto.X509Certificate(options.issuer.cert);
    issuerName = subjectOfCertificate(issuerCert.raw);
    signingKey = crypto.createPrivateKey(options.issuer.key);
    issuerSpki = issuerCert.publicKey.export({ type: 'spki', format: 'der' });
  }
  const algorithm = signatureAlgorithm(signingKey);

  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(randomSerial()),
    algorithm.identifier,
    issuerName,
    seq(encodeTime(notBefore), encodeTime(notAfter)),
    subject,
    spki,
    explicit(3, seq(...buildExtensions(options, privateKey, spki, issuerSpki))),
  );
  const signature = crypto.sign(algorithm.hash, tbs, signingKey);
  const der = seq(tbs, algorithm.identifier, bitString(signature));

  return {
    cert: toPem('CERTIFICATE', der),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    fingerprint: crypto.createHash('sha256').update(spki).digest('hex'),
    notAfter,
  };
}

// ---------------------------------------------------------------- keys

function generateKey(keyType: CertificateKeyType): crypto.KeyObject {
  switch (keyType) {
    case 'ec-p256':
      return crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    case 'ed25519':
      return crypto.generateKeyPairSync('ed25519').privateKey;
    case 'rsa-2048':
      return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    default:
      throw new InvalidOptionError(`unsupported keyType: ${String(keyType)}`);
  }
}

function loadKey(pem: string, expected: CertificateKeyType | undefined): crypto.KeyObject {
  const key = crypto.createPrivateKey(pem);
  const actual = keyTypeOf(key);
  if (expected && expected !== actual) {
    throw new InvalidOptionError(`keyPem is ${actual ?? key.asymmetricKeyType}, not ${expected}`);
  }
  if (!actual && key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa') {
    throw new InvalidOptionError(`unsupported key type in keyPem: ${key.asymmetricKeyType}`);
  }
  return key;
}

function keyTypeOf(key: crypto.KeyObject): CertificateKeyType | undefined {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ec-p256';
  if (key.asymmetricKeyType === 'rsa' && key.asymmetricKeyDetails?.modulusLength === 2048) return 'rsa-2048';
  return undefined;
}

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_ED25519 = '1.3.101.112';
const OID_SHA256_RSA = '1.2.840.113549.1.1.11';

function signatureAlgorithm(key: crypto.KeyObject): { identifier: Buffer; hash: string | null } {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return { identifier: seq(oid(OID_ECDSA_SHA256)), hash: 'sha256' };
    case 'ed25519':
      return { identifier: seq(oid(OID_ED25519)), hash: null };
    case 'rsa':
      return { identifier: seq(oid(OID_SHA256_RSA), nullValue()), hash: 'sha256' };
    default:
      throw new InvalidOptionError(`cannot sign with a ${key.asymmetricKeyType} key`);
  }
}

function randomSerial(): Buffer {
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, and minimal DER (no leading zero needed)
  return serial;
}

// ---------------------------------------------------------------- extensions

const OID_SUBJECT_KEY_ID = '2.5.29.14';
const OID_KEY_USAGE = '2.5.29.15';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

// keyUsage bit numbers (RFC 5280 4.2.1.3)
const DIGITAL_SIGNATURE = 0;
const KEY_ENCIPHERMENT = 2;
const KEY_CERT_SIGN = 5;
const CRL_SIGN = 6;

function buildExtensions(options: CertificateOptions, key: crypto.KeyObject, spki: Buffer, issuerSpki: Buffer): Buffer[] {
  const extensions: Buffer[] = [];
  const isCA = options.isCA === true;
  extensions.push(extension(OID_BASIC_CONSTRAINTS, true, isCA ? seq(boolean(true)) : seq()));
  const usage = isCA ? [DIGITAL_SIGNATURE, KEY_CERT_SIGN, CRL_SIGN] : [DIGITAL_SIGNATURE];
  if (!isCA && key.asymmetricKeyType === 'rsa') usage.push(KEY_ENCIPHERMENT);
  extensions.push(extension(OID_KEY_USAGE, true, namedBits(usage)));
  if (!isCA) extensions.push(extension(OID_EXT_KEY_USAGE, false, seq(oid(OID_SERVER_AUTH), oid(OID_CLIENT_AUTH))));
  const names = [
    ...(options.dnsNames ?? []).map((name) => tlv(0x82, Buffer.from(name, 'ascii'))),
    ...(options.ipAddresses ?? []).map((ip) => tlv(0x87, ipToBytes(ip))),
  ];
  if (names.length > 0) extensions.push(extension(OID_SUBJECT_ALT_NAME, false, seq(...names)));
  extensions.push(extension(OID_SUBJECT_KEY_ID, false, octetString(keyIdentifier(spki))));
  extensions.push(extension(OID_AUTHORITY_KEY_ID, false, seq(tlv(0x80, keyIdentifier(issuerSpki)))));
  return extensions;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), boolean(true), octetString(value)) : seq(oid(id), octetString(value));
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING contents (without the unused-bits byte). */
function keyIdentifier(spki: Buffer): Buffer {
  const [, bits] = readChildren(spki, 0);
  const publicKeyBits = spki.subarray(bits!.contentStart + 1, bits!.end);
  return crypto.createHash('sha1').update(publicKeyBits).digest();
}

function ipToBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (net.isIPv6(ip)) return ipv6ToBytes(ip);
  throw new InvalidOptionError(`not an IP address: ${ip}`);
}

function ipv6ToBytes(ip: string): Buffer {
  let text = ip.includes('%') ? ip.slice(0, ip.indexOf('%')) : ip;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // embedded IPv4 (::ffff:1.2.3.4): rewrite as two hex groups
    const v4 = Buffer.from(last.split('.').map(Number));
    text = `${text.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const groups = (part: string): number[] => (part ? part.split(':').map((h) => parseInt(h, 16)) : []);
  const doubleColon = text.indexOf('::');
  const left = groups(doubleColon < 0 ? text : text.slice(0, doubleColon));
  const right = doubleColon < 0 ? [] : groups(text.slice(doubleColon + 2));
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

// ---------------------------------------------------------------- names and times

const OID_COMMON_NAME = '2.5.4.3';

function encodeName(commonName: string): Buffer {
  return seq(tlv(0x31, seq(oid(OID_COMMON_NAME), tlv(0x0c, Buffer.from(commonName, 'utf8')))));
}

/** Returns the DER of the subject Name of a DER certificate, byte for byte (the issuer field must match it exactly). */
function subjectOfCertificate(der: Buffer): Buffer {
  const [tbs] = readChildren(der, 0);
  const fields = readChildren(der, tbs!.start);
  // version [0] is present in v3 certificates; subject is then the 6th field, else the 5th
  const subject = fields[0]!.tag === 0xa0 ? fields[5]! : fields[4]!;
  return der.subarray(subject.start, subject.end);
}

function truncateToSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

function encodeTime(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

// ---------------------------------------------------------------- DER encoding

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function explicit(tagNumber: number, content: Buffer): Buffer {
  return tlv(0xa0 | tagNumber, content);
}

/** INTEGER from unsigned big-endian bytes (adds a leading zero when the high bit is set). */
function integer(unsigned: Buffer): Buffer {
  return tlv(0x02, unsigned[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), unsigned]) : unsigned);
}

function boolean(value: boolean): Buffer {
  return tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
}

function nullValue(): Buffer {
  return Buffer.from([0x05, 0x00]);
}

function octetString(content: Buffer): Buffer {
  return tlv(0x04, content);
}

function bitString(content: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
}

/** BIT STRING of named bits, DER-minimal (trailing zero bits dropped). */
function namedBits(bits: number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return bitString(bytes, 7 - (highest & 7));
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [parts[0]! * 40 + parts[1]!];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let n = Math.floor(part / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// ---------------------------------------------------------------- DER reading (just enough for certificates)

interface DerElement {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

function readElement(der: Buffer, offset: number): DerElement {
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += count;
  }
  return { tag, start: offset, contentStart, end: contentStart + length };
}

/** The elements inside the constructed element at `offset`. */
function readChildren(der: Buffer, offset: number): DerElement[] {
  const parent = readElement(der, offset);
  const children: DerElement[] = [];
  for (let pos = parent.contentStart; pos < parent.end; ) {
    const child = readElement(der, pos);
    children.push(child);
    pos = child.end;
  }
  return children;
}
