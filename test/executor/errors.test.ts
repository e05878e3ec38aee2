import { describe, expect, it } from 'vitest';
import { ExecutorError, isFailureCode, wrap } from '../../src/executor/errors.ts';
import { FAILURE_CODES } from '../../src/executor/failure-codes.ts';

describe('wrap', () => {
  const origin = { start: 0, end: 4, line: 1, column: 1 };
  const failing = (err: Error) => wrap('data-load', origin, () => Promise.reject(err));

  it("keeps a TL error's own code and gives it the statement's span", async () => {
    await expect(failing(new ExecutorError('data-not-found', 'no such folder'))).rejects.toMatchObject({ code: 'data-not-found', message: 'no such folder', origin });
  });

  it("gives a system error the step's code: ENOENT is not a TL code", async () => {
    for (const code of ['ENOENT', 'EACCES', 'SQLITE_NOTADB', 42]) {
      await expect(failing(Object.assign(new Error('low-level'), { code }))).rejects.toMatchObject({ code: 'data-load', message: 'low-level', origin });
    }
  });
});

describe('the failure codes', () => {
  it('are unique, kebab-case and each explained', () => {
    const codes = FAILURE_CODES.map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const { code, meaning } of FAILURE_CODES) {
      expect(code).toMatch(/^[a-z]+(-[a-z0-9]+)*$/);
      expect(meaning).toMatch(/^[A-Z`'].*\.$/);
    }
    expect(isFailureCode('data-not-found')).toBe(true);
    expect(isFailureCode('ENOENT')).toBe(false);
  });
});
