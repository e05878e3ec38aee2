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
