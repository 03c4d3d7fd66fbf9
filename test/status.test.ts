import { describe, expect, it } from 'vitest';
import {
  Status,
  categoryName,
  effectiveStatus,
  isCertificateRequired,
  isDefinedStatus,
  isInput,
  isPermanentFailure,
  isRedirect,
  isSuccess,
  isTemporaryFailure,
  isValidStatus,
  statusCategory,
  statusName,
} from '../src/protocol/status.js';

describe('Status constants', () => {
  it('define every code of the specification', () => {
    expect(Object.values(Status).sort((a, b) => a - b)).toEqual([
      10, 11, 20, 30, 31, 40, 41, 42, 43, 44, 50, 51, 52, 53, 59, 60, 61, 62,
    ]);
    expect(Status.NotFound).toBe(51);
    expect(Status.SensitiveInput).toBe(11);
    expect(Status.SlowDown).toBe(44);
    expect(Status.ProxyRequestRefused).toBe(53);
    expect(Status.BadRequest).toBe(59);
    expect(Status.CertificateNotValid).toBe(62);
  });
});

describe('statusName', () => {
  it.each([
    [10, 'input'],
    [11, 'sensitive input'],
    [20, 'success'],
    [30, 'temporary redirect'],
    [31, 'permanent redirect'],
    [40, 'temporary failure'],
    [41, 'server unavailable'],
    [42, 'CGI error'],
    [43, 'proxy error'],
    [44, 'slow down'],
    [50, 'permanent failure'],
    [51, 'not found'],
    [52, 'gone'],
    [53, 'proxy request refused'],
    [59, 'bad request'],
    [60, 'client certificate required'],
    [61, 'certificate not authorised'],
    [62, 'certificate not valid'],
  ])('names %i "%s"', (code, name) => {
    expect(statusName(code)).toBe(name);
  });

  it.each([
    [19, 'input'],
    [29, 'success'],
    [39, 'temporary redirect'],
    [49, 'temporary failure'],
    [58, 'permanent failure'],
    [69, 'client certificate required'],
  ])('names undefined code %i by its first digit ("%s")', (code, name) => {
    expect(statusName(code)).toBe(name);
  });

  it('throws RangeError outside 10..69', () => {
    for (const code of [0, 9, 70, 99, 100, 20.5, NaN, -20]) {
      expect(() => statusName(code)).toThrow(RangeError);
    }
  });
});

describe('effectiveStatus and isDefinedStatus', () => {
  it('maps undefined codes to the category base code', () => {
    expect(effectiveStatus(29)).toBe(20);
    expect(effectiveStatus(39)).toBe(30);
    expect(effectiveStatus(49)).toBe(40);
    expect(effectiveStatus(58)).toBe(50);
    expect(effectiveStatus(19)).toBe(10);
    expect(effectiveStatus(69)).toBe(60);
    expect(effectiveStatus(12)).toBe(10);
    expect(effectiveStatus(32)).toBe(30);
  });

  it('keeps defined codes', () => {
    for (const code of Object.values(Status)) expect(effectiveStatus(code)).toBe(code);
    expect(isDefinedStatus(51)).toBe(true);
    expect(isDefinedStatus(58)).toBe(false);
    expect(isDefinedStatus(99)).toBe(false);
  });

  it('throws RangeError outside 10..69', () => {
    expect(() => effectiveStatus(99)).toThrow(RangeError);
  });
});

describe('categories', () => {
  it('statusCategory gives the first digit', () => {
    expect(statusCategory(10)).toBe(1);
    expect(statusCategory(29)).toBe(2);
    expect(statusCategory(69)).toBe(6);
    expect(() => statusCategory(9)).toThrow(RangeError);
    expect(() => statusCategory(70)).toThrow(RangeError);
  });

  it('isValidStatus accepts exactly the integers 10..69', () => {
    expect(isValidStatus(10)).toBe(true);
    expect(isValidStatus(69)).toBe(true);
    expect(isValidStatus(9)).toBe(false);
    expect(isValidStatus(70)).toBe(false);
    expect(isValidStatus(99)).toBe(false);
    expect(isValidStatus(15.5)).toBe(false);
  });

  it('categoryName names each category', () => {
    expect([1, 2, 3, 4, 5, 6].map((c) => categoryName(c as 1))).toEqual([
      'input',
      'success',
      'redirect',
      'temporary failure',
      'permanent failure',
      'client certificate required',
    ]);
  });

  it('predicates select exactly one category per valid code', () => {
    const predicates = [isInput, isSuccess, isRedirect, isTemporaryFailure, isPermanentFailure, isCertificateRequired];
    for (let code = 10; code <= 69; code++) {
      const matching = predicates.map((p, i) => (p(code) ? i + 1 : 0)).filter((c) => c !== 0);
      expect(matching).toEqual([Math.floor(code / 10)]);
    }
  });

  it('predicates are false for invalid codes', () => {
    for (const code of [0, 5, 9, 70, 99, 200]) {
      expect([isInput, isSuccess, isRedirect, isTemporaryFailure, isPermanentFailure, isCertificateRequired].some((p) => p(code))).toBe(false);
    }
  });
});
