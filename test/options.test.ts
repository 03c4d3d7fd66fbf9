/**
 * Every library option, a wrong type and an out-of-range value: each must be
 * refused with ERR_INVALID_OPTION naming the option, before any connection.
 * Table-driven over the rule tables of src/options.ts (which the compiler
 * holds to the options interfaces), so an option added later is covered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batch } from '../src/bulk/batch.js';
import { Client } from '../src/net/client.js';
import { crawl } from '../src/bulk/crawl.js';
import { GeminiError } from '../src/errors.js';
import {
  BATCH_OPTION_RULES,
  CRAWL_OPTION_RULES,
  REQUEST_OPTION_RULES,
  SURVEY_OPTION_RULES,
  UPLOAD_OPTION_RULES,
  type OptionKind,
  type OptionRule,
} from '../src/options.js';
import { survey } from '../src/bulk/survey.js';
import { respondWith, startGeminiServer, type GeminiTestServer } from './support/gemini-server.js';
import { INSECURE_OPTIONS } from './support/harness.js';

/**
 * Values each kind of option must refuse: first a wrong type, then out of
 * range where the kind has a range. Written here, not taken from the rules,
 * so the test does not trust the code it checks.
 */
function badValues(rule: OptionRule): unknown[] {
  const byKind: Record<OptionKind, unknown[]> = {
    milliseconds: ['5', -1, Number.NaN, -Infinity],
    integer: ['1', rule.min! - 1, rule.min! + 0.5, ...(Number.isFinite(rule.max) ? [rule.max! + 1] : [])],
    choice: [{}, 'bogus', 5],
    boolean: ['yes', 1],
    function: ['function', {}],
    'boolean-or-function': ['yes', 1],
    string: [42, {}],
    path: [42, '', '   ', 'a\0b'],
    pem: [42, ['PEM']],
    'pem-list': [42, [42]],
    'known-hosts': [123, ''],
    signal: [{}, 'signal'],
    object: ['x', null, []],
    'regexp-list': ['a.*', ['a.*']],
    'choice-list': ['public', ['bogus'], [5]],
    instance: [{}, 'client'],
  };
  return byKind[rule.kind];
}

/** One case per (option, bad value), descending into object options (`proxy.port`, `requestOptions.maxBytes`). */
interface Case {
  option: string;
  options: Record<string, unknown>;
  value: unknown;
}
function cases(rules: Readonly<Record<string, OptionRule>>, wrap: (inner: Record<string, unknown>) => Record<string, unknown> = (x) => x, prefix = ''): Case[] {
  const out: Case[] = [];
  for (const [name, rule] of Object.entries(rules)) {
    const option = `${prefix}${name}`;
    for (const value of badValues(rule)) out.push({ option, options: wrap({ [name]: value }), value });
    if (rule.properties && name === 'proxy') {
      out.push(...cases(rule.properties, (inner) => wrap({ proxy: { host: '127.0.0.1', ...inner } }), `${option}.`));
    }
    if (rule.properties && name === 'requestOptions') {
      out.push(...cases(rule.properties, (inner) => wrap({ requestOptions: inner }), `${option}.`));
    }
  }
  return out;
}

function expectInvalidOption(err: unknown, option: string): void {
  expect(err, option).toBeInstanceOf(GeminiError);
  expect((err as GeminiError).code, `${option}: ${String(err)}`).toBe('ERR_INVALID_OPTION');
  expect((err as Error).message).toContain(option);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('did not reject');
}

let server: GeminiTestServer;
beforeAll(async () => {
  server = await startGeminiServer({ handler: respondWith('20 text/plain', 'hello') });
});
afterAll(async () => {
  await server?.close();
  // No bad option got as far as a connection.
});

describe('every option, a wrong type and an out-of-range value: ERR_INVALID_OPTION naming it', () => {
  it('covers every kind of rule in the tables', () => {
    for (const rules of [REQUEST_OPTION_RULES, BATCH_OPTION_RULES, CRAWL_OPTION_RULES, SURVEY_OPTION_RULES, UPLOAD_OPTION_RULES]) {
      for (const [name, rule] of Object.entries(rules)) expect(badValues(rule)?.length ?? 0, name).toBeGreaterThan(0);
    }
  });

  it.each(cases(REQUEST_OPTION_RULES))('new Client({ $option: bad })', ({ option, options }) => {
    expectInvalidOption(thrown(() => new Client(options)), option);
  });

  it.each(cases(REQUEST_OPTION_RULES))('fetch and request with { $option: bad }', async ({ option, options }) => {
    const client = new Client(INSECURE_OPTIONS);
    expectInvalidOption(await rejected(client.fetch(server.url('/'), options)), option);
    expectInvalidOption(await rejected(client.request(server.url('/'), options)), option);
  });

  it.each(cases({ ...REQUEST_OPTION_RULES, ...UPLOAD_OPTION_RULES }))('upload with { $option: bad }', async ({ option, options }) => {
    const client = new Client(INSECURE_OPTIONS);
    expectInvalidOption(await rejected(client.upload(server.url('/').replace(/^gemini:/, 'titan:'), 'x', options)), option);
  });

  it.each(cases(BATCH_OPTION_RULES))('batch with { $option: bad }', async ({ option, options }) => {
    expectInvalidOption(await rejected(batch([server.url('/')], options).next()), option);
  });

  it.each(cases(CRAWL_OPTION_RULES))('crawl with { $option: bad }', async ({ option, options }) => {
    expectInvalidOption(await rejected(crawl([server.url('/')], options).next()), option);
  });

  it.each(cases(SURVEY_OPTION_RULES))('survey with { $option: bad }', async ({ option, options }) => {
    expectInvalidOption(await rejected(survey(['127.0.0.1:1'], options).next()), option);
  });

  it('none of them reached the server', () => {
    expect(server.connectionCount).toBe(0);
  });
});

describe('the values issue 9 listed, and options that are not an object', () => {
  it.each([
    { option: 'proxy.port', options: { proxy: { host: '127.0.0.1', port: 99999 } } },
    { option: 'proxy.port', options: { proxy: { host: '127.0.0.1', port: 'x' } } },
    { option: 'proxy.host', options: { proxy: { host: 123 } } },
    { option: 'proxy.host', options: { proxy: {} } },
    { option: 'signal', options: { signal: {} } },
    { option: 'knownHosts', options: { knownHosts: 123 } },
  ])('$option in $options', async ({ option, options }) => {
    expectInvalidOption(thrown(() => new Client(options as never)), option);
    expectInvalidOption(await rejected(new Client().fetch(server.url('/'), options as never)), option);
  });

  it('new Client(null), fetch(url, null), batch options 5: ERR_INVALID_OPTION saying they must be an object', async () => {
    for (const err of [
      thrown(() => new Client(null as never)),
      await rejected(new Client().fetch(server.url('/'), null as never)),
      await rejected(batch([server.url('/')], 5 as never).next()),
      await rejected(crawl([server.url('/')], 'x' as never).next()),
    ]) {
      expect((err as GeminiError).code).toBe('ERR_INVALID_OPTION');
      expect((err as Error).message).toMatch(/options must be an object \(got (null|5|"x")\)/);
    }
  });

  it('crawl seeds that are not an array of strings', async () => {
    const err = await rejected(crawl('gemini://127.0.0.1/' as never).next());
    expect((err as GeminiError).code).toBe('ERR_INVALID_OPTION');
    expect(server.connectionCount).toBe(0);
  });

  it('the message names the value: option proxy.port must be a whole number, from 1 to 65535 (got 99999)', () => {
    const err = thrown(() => new Client({ proxy: { host: 'h', port: 99999 } }));
    expect((err as Error).message).toBe('option proxy.port must be a whole number, from 1 to 65535 (got 99999)');
  });

  it('valid values still pass: Infinity timeouts and maxBytes, a Buffer CA list, a KnownHostsStore-free path', async () => {
    const client = new Client({ ...INSECURE_OPTIONS, totalTimeout: Infinity, maxBytes: Infinity, ca: [Buffer.from('x')], knownHosts: '/tmp/kh' });
    expect(client.options.maxBytes).toBe(Infinity);
    const response = await new Client(INSECURE_OPTIONS).fetch(server.url('/'), { maxRedirects: 0, proxy: undefined, family: 4 });
    expect(response.body.toString()).toBe('hello');
  });
});
