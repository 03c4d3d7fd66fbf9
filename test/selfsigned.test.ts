import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { createCertificate, type CertificateKeyType, type GeneratedCertificate } from '../src/trust/selfsigned.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gemfetch-selfsigned-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const opensslMissing = !hasOpenssl();

function writeTemp(name: string, content: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content);
  return file;
}

function spkiFingerprint(x509: crypto.X509Certificate): string {
  return crypto.createHash('sha256').update(x509.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** Handshake against a tls server using `cert`, client trusting `ca`; resolves with the server's view of the client cert (if any). */
async function handshake(
  cert: GeneratedCertificate,
  client: { ca: string; servername?: string; checkServerIdentity?: typeof tls.checkServerIdentity; clientCert?: GeneratedCertificate },
): Promise<{ authorized: boolean; peerFingerprint: string | undefined }> {
  const server = tls.createServer({ cert: cert.cert, key: cert.key, requestCert: true, rejectUnauthorized: false }, (socket) => {
    const peer = socket.getPeerX509Certificate();
    socket.end(peer ? spkiFingerprint(peer) : '-');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  try {
    return await new Promise((resolve, reject) => {
      const options: tls.ConnectionOptions = { host: '127.0.0.1', port, ca: client.ca };
      if (client.servername) options.servername = client.servername;
      if (client.checkServerIdentity) options.checkServerIdentity = client.checkServerIdentity;
      if (client.clientCert) Object.assign(options, { cert: client.clientCert.cert, key: client.clientCert.key });
      const socket = tls.connect(options);
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', reject);
      socket.on('end', () => resolve({ authorized: socket.authorized, peerFingerprint: text === '-' ? undefined : text }));
    });
  } finally {
    server.close();
  }
}

describe('createCertificate', () => {
  it('makes a parseable, self-signed ec-p256 certificate with the requested names and validity', () => {
    const notBefore = new Date('2024-01-02T03:04:05.678Z');
    const notAfter = new Date('2031-06-07T08:09:10Z');
    const c = createCertificate({
      commonName: 'localhost',
      dnsNames: ['localhost', 'example.org'],
      ipAddresses: ['127.0.0.1', '::1', '2001:db8::1:0:0:1', '::ffff:1.2.3.4'],
      notBefore,
      notAfter,
    });
    const x509 = new crypto.X509Certificate(c.cert);
    expect(x509.subject).toBe('CN=localhost');
    expect(x509.issuer).toBe('CN=localhost');
    expect(x509.subjectAltName).toBe(
      'DNS:localhost, DNS:example.org, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:1:0:0:1, IP Address:0:0:0:0:0:FFFF:102:304',
    );
    expect(new Date(x509.validFrom).toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(new Date(x509.validTo).toISOString()).toBe('2031-06-07T08:09:10.000Z');
    expect(c.notAfter.toISOString()).toBe('2031-06-07T08:09:10.000Z');
    expect(x509.ca).toBe(false);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.publicKey.asymmetricKeyType).toBe('ec');
    expect(c.fingerprint).toBe(spkiFingerprint(x509));
    expect(c.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(x509.checkPrivateKey(crypto.createPrivateKey(c.key))).toBe(true);
    expect(x509.serialNumber).toMatch(/^[0-9A-F]{32}$/);
  });

  it('defaults to one year of validity starting an hour ago', () => {
    const before = Date.now();
    const c = createCertificate({ commonName: 'x' });
    const x509 = new crypto.X509Certificate(c.cert);
    const from = new Date(x509.validFrom).getTime();
    expect(from).toBeLessThanOrEqual(before - 3600_000 + 1000);
    expect(from).toBeGreaterThan(before - 3600_000 - 5000);
    expect(new Date(x509.validTo).getTime() - from).toBe(365 * 86400_000);
    expect(x509.subjectAltName).toBeUndefined();
  });

  it('encodes dates from 2050 on as GeneralizedTime and accepts expired certificates', () => {
    const late = createCertificate({ commonName: 'late', notBefore: new Date('2049-12-31T23:59:59Z'), notAfter: new Date('2100-02-03T04:05:06Z') });
    const x509 = new crypto.X509Certificate(late.cert);
    expect(new Date(x509.validFrom).toISOString()).toBe('2049-12-31T23:59:59.000Z');
    expect(new Date(x509.validTo).toISOString()).toBe('2100-02-03T04:05:06.000Z');

    const expired = createCertificate({ commonName: 'old', notBefore: new Date('2020-01-01Z'), notAfter: new Date('2021-01-01Z') });
    expect(new Date(new crypto.X509Certificate(expired.cert).validTo).getTime()).toBeLessThan(Date.now());
  });

  it.each(['ed25519', 'rsa-2048'] as CertificateKeyType[])('supports %s keys', (keyType) => {
    const c = createCertificate({ commonName: 'localhost', dnsNames: ['localhost'], keyType });
    const x509 = new crypto.X509Certificate(c.cert);
    expect(x509.publicKey.asymmetricKeyType).toBe(keyType === 'ed25519' ? 'ed25519' : 'rsa');
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(c.fingerprint).toBe(spkiFingerprint(x509));
  });

  it('reuses a key given as keyPem (same fingerprint, new certificate)', () => {
    const first = createCertificate({ commonName: 'a' });
    const renewed = createCertificate({ commonName: 'a', keyPem: first.key });
    expect(renewed.fingerprint).toBe(first.fingerprint);
    expect(renewed.cert).not.toBe(first.cert);
    expect(() => createCertificate({ commonName: 'a', keyPem: first.key, keyType: 'ed25519' })).toThrow(InvalidOptionError);
  });

  it('rejects invalid options with InvalidOptionError', () => {
    expect(() => createCertificate({ commonName: '' })).toThrow(InvalidOptionError);
    expect(() => createCertificate({ commonName: 'x', ipAddresses: ['300.1.1.1'] })).toThrow(InvalidOptionError);
    expect(() => createCertificate({ commonName: 'x', notBefore: new Date('2030-01-01Z'), notAfter: new Date('2029-01-01Z') })).toThrow(
      /notAfter/,
    );
  });

  it('issues leaves from a CA (Node checkIssued/verify)', () => {
    const ca = createCertificate({ commonName: 'Test CA', isCA: true, keyType: 'ed25519' });
    const leaf = createCertificate({ commonName: 'leaf', dnsNames: ['localhost'], issuer: ca });
    const caX509 = new crypto.X509Certificate(ca.cert);
    const leafX509 = new crypto.X509Certificate(leaf.cert);
    expect(caX509.ca).toBe(true);
    expect(leafX509.issuer).toBe('CN=Test CA');
    expect(leafX509.checkIssued(caX509)).toBe(true);
    expect(leafX509.verify(caX509.publicKey)).toBe(true);
    expect(leafX509.verify(leafX509.publicKey)).toBe(false);
    expect(leafX509.publicKey.asymmetricKeyType).toBe('ec');
  });

  describe.skipIf(opensslMissing)('openssl', () => {
    it('openssl x509 parses every key type and shows the extensions', () => {
      for (const keyType of ['ec-p256', 'ed25519', 'rsa-2048'] as CertificateKeyType[]) {
        const c = createCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], keyType });
        const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', writeTemp(`${keyType}.pem`, c.cert)], { encoding: 'utf8' });
        expect(text).toContain('Version: 3 (0x2)');
        expect(text).toContain('Subject: CN = localhost');
        expect(text).toContain('DNS:localhost, IP Address:127.0.0.1');
        expect(text).toContain('CA:FALSE');
        expect(text).toContain('Digital Signature');
        expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
      }
    });

    it('openssl verify accepts a leaf issued by a CA (UTCTime and GeneralizedTime)', () => {
      const ca = createCertificate({ commonName: 'Test CA', isCA: true });
      const leaf = createCertificate({ commonName: 'leaf', dnsNames: ['localhost'], issuer: ca, notAfter: new Date('2060-01-01Z') });
      const caText = execFileSync('openssl', ['x509', '-noout', '-text', '-in', writeTemp('ca.pem', ca.cert)], { encoding: 'utf8' });
      expect(caText).toContain('CA:TRUE');
      expect(caText).toContain('Certificate Sign, CRL Sign');
      const out = execFileSync('openssl', ['verify', '-CAfile', path.join(tmp, 'ca.pem'), writeTemp('leaf.pem', leaf.cert)], {
        encoding: 'utf8',
      });
      expect(out.trim()).toBe(`${path.join(tmp, 'leaf.pem')}: OK`);
    });
  });

  describe('Node TLS', () => {
    it('completes a handshake with a client trusting the certificate by name', async () => {
      const c = createCertificate({ commonName: 'localhost', dnsNames: ['localhost'] });
      const result = await handshake(c, { ca: c.cert, servername: 'localhost' });
      expect(result.authorized).toBe(true);
    });

    it('matches an IP SAN with checkServerIdentity', async () => {
      const c = createCertificate({ commonName: 'ip only', ipAddresses: ['127.0.0.1'] });
      const x509 = new crypto.X509Certificate(c.cert);
      expect(tls.checkServerIdentity('127.0.0.1', { subjectaltname: x509.subjectAltName } as tls.PeerCertificate)).toBeUndefined();
      const result = await handshake(c, { ca: c.cert, checkServerIdentity: tls.checkServerIdentity });
      expect(result.authorized).toBe(true);
    });

    it.each(['ed25519', 'rsa-2048'] as CertificateKeyType[])('serves %s certificates', async (keyType) => {
      const c = createCertificate({ commonName: 'localhost', dnsNames: ['localhost'], keyType });
      expect((await handshake(c, { ca: c.cert, servername: 'localhost' })).authorized).toBe(true);
    });

    it('works as a CA-issued server certificate and as a client certificate', async () => {
      const ca = createCertificate({ commonName: 'Test CA', isCA: true });
      const leaf = createCertificate({ commonName: 'leaf', dnsNames: ['localhost'], issuer: ca });
      const clientCert = createCertificate({ commonName: 'me' });
      const result = await handshake(leaf, { ca: ca.cert, servername: 'localhost', clientCert });
      expect(result.authorized).toBe(true);
      expect(result.peerFingerprint).toBe(clientCert.fingerprint);
    });
  });
});
