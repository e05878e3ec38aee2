/** A runtime failure with a stable code and, where known, the script span it comes from. */
import type { Origin } from '../plan/schema.ts';

export class ExecutorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly origin: Origin | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExecutorError';
  }
}

/** Runs a loading step, turning its failure into an ExecutorError that points at the statement. */
export async function wrap<T>(code: string, origin: Origin | null, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    // A TL error's own code (kebab-case) is the more precise one; a system error's (ENOENT) is not a TL code.
    const inner = (err as { code?: unknown }).code;
    throw new ExecutorError(typeof inner === 'string' && /^[a-z]+(-[a-z0-9]+)*$/.test(inner) ? inner : code, (err as Error).message, origin, { cause: err });
  }
}
