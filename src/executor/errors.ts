/** A runtime failure with a stable code and, where known, the script span it comes from. */
import type { Origin } from '../plan/schema.ts';
import { FAILURE_CODES, type FailureCode } from './failure-codes.ts';

export class ExecutorError extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
    readonly origin: Origin | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExecutorError';
  }
}

/** Runs a loading step, turning its failure into an ExecutorError that points at the statement. */
export async function wrap<T>(code: FailureCode, origin: Origin | null, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    // A TL error's own code is the more precise one; a system error's (ENOENT) is not a TL code.
    const inner = (err as { code?: unknown }).code;
    throw new ExecutorError(isFailureCode(inner) ? inner : code, (err as Error).message, origin, { cause: err });
  }
}

const KNOWN = new Set<unknown>(FAILURE_CODES.map((c) => c.code));

export function isFailureCode(code: unknown): code is FailureCode {
  return KNOWN.has(code);
}
