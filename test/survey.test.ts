import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificate } from '../src/trust/selfsigned.js';
import { formatSurveySummary, summarizeSurvey, survey, type SurveyRecord } from '../src/bulk/survey.js';
import { startGeminispace, type CapsuleDef, type Geminispace } from './support/geminispace.js';

const fast = { connectTimeout: 5000, handshakeTimeout: 5000, headerTimeout: 5000, idleTimeout: 1000, totalTimeout: 10000 };

describe('survey of a simulated Geminispace', () => {
  let space: Geminispace;
  let records: SurveyRecord[];
  const ca = createCertificate({ commonName: 'Test CA', isCA: true });
  const home = { '/': { body: '# home\n' } };
  // [name, close_notify on success, close_notify on error pages] as the capsule behaves
  const defs: CapsuleDef[] = [
    { name: 'good1', pages: home },
    { name: 'good2', pages: home, maxVersion: 'TLSv1.2' },
    { name: 'good3', pages: home, issuer: ca },
    { name: 'finOnErrors1', pages: home, notFoundEnding: 'fin' },
    { name: 'finOnErrors2', pages: home, notFoundEnding: 'fin', expired: true },
    { name: 'finAll', pages: home, successEnding: 'fin', notFoundEnding: 'fin' },
    { name: 'resetOnSuccess', pages: home, successEnding: 'reset' },
    { name: 'rootMissing' }, // the root itself is a 51 with close_notify
    { name: 'stalls', pages: { '/': { body: 'forever', ending: 'none' } } },
    { name: 'down', down: true },
  ];
  beforeAll(async () => {
    space = await startGeminispace(defs);
    const hosts = [...space.capsules.map((c) => `${c.host}:${c.port}`), 'not a host name!'];
    records = [];
    for await (const r of survey(hosts, { missing: true, delay: 5, requestOptions: fast })) records.push(r);
  }, 15_000);
  afterAll(async () => space?.close());

  const of = (name: string): SurveyRecord => {
    const c = space.get(name);
    return records.find((r) => r.hostPort === `${c.host}:${c.port}`)!;
  };

  it('yields one record per host', () => {
    expect(records).toHaveLength(defs.length + 1);
    expect(records.find((r) => r.host === 'not a host name!')?.error?.code).toBe('ERR_INVALID_URL');
  });

  it('reports close_notify on success and on error pages as the capsules behave', () => {
    expect(of('good1')).toMatchObject({ closeNotifyOnSuccess: true, closeNotifyOnError: true, root: { status: 20 }, missing: { status: 51 } });
    expect(of('finOnErrors1')).toMatchObject({ closeNotifyOnSuccess: true, closeNotifyOnError: false });
    expect(of('finAll')).toMatchObject({ closeNotifyOnSuccess: false, closeNotifyOnError: false });
    expect(of('resetOnSuccess').closeNotifyOnSuccess).toBe(false);
    expect(of('rootMissing')).toMatchObject({ closeNotifyOnSuccess: null, closeNotifyOnError: true });
    expect(of('stalls')).toMatchObject({ closeNotifyOnSuccess: false, root: { termination: 'timeout' } });
    expect(of('down')).toMatchObject({ tls: null, closeNotifyOnSuccess: null, error: { code: 'ERR_CONNECT' } });
    // the missing page really was requested, after the root
    const paths = space.get('good1').log.map((l) => l.path);
    expect(paths[0]).toBe('/');
    expect(paths[1]).toMatch(/^\/gemfetch-survey-missing-[0-9a-f]{12}$/);
  });

  it('reports TLS version, cipher and certificate', () => {
    expect(of('good1').tls?.protocol).toBe('TLSv1.3');
    expect(of('good2').tls?.protocol).toBe('TLSv1.2');
    expect(of('good1').tls?.cipher).toMatch(/^TLS_/);
    expect(of('good1').certificate).toMatchObject({ selfSigned: true, expired: false, subject: 'good1' });
    expect(of('good3').certificate).toMatchObject({ selfSigned: false, issuer: 'Test CA' });
    expect(of('finOnErrors2').certificate?.expired).toBe(true);
  });

  it('summarises the counts', () => {
    const summary = summarizeSurvey(records);
    expect(summary).toMatchObject({
      capsules: 11,
      reachable: 9,
      successChecked: 8, // all reachable but rootMissing
      closeNotifyOnSuccess: 5, // good1-3, finOnErrors1-2
      errorChecked: 9,
      closeNotifyOnError: 6, // good1-3, resetOnSuccess, rootMissing, stalls
      selfSigned: 8,
      caIssued: 1,
      expired: 1,
      tlsVersions: { 'TLSv1.3': 8, 'TLSv1.2': 1 },
    });
    const table = formatSurveySummary(summary);
    // One denominator per figure, the same in the headline and the table (was "5 of 11 capsules" vs "5 of 8 answering 2x").
    expect(table.split('\n')[0]).toBe('5 of 8 capsules answering 2x send close_notify on success; 6 of 9 error pages seen end with it (11 surveyed, 9 reachable)');
    expect(table).toContain('close_notify on success      5 of 8 answering 2x');
    expect(table).toContain('close_notify on error pages  6 of 9 error pages seen');
  });
});
