/**
 * The one error type of the data loaders: a stable `code`, the file it is about, and for csv
 * manifests the 1-based line. Messages name the file, say what was wrong and what to do.
 */
import type { FailureCodes } from '../failure-codes.ts';

export type DataErrorCode = FailureCodes<
  | 'data-not-found'
  | 'not-a-directory'
  | 'corrupt-image'
  | 'empty-class'
  | 'no-classes'
  | 'one-class'
  | 'class-missing-from-val'
  | 'unknown-label'
  | 'bad-manifest'
  | 'bad-idx'
>;

export class DataError extends Error {
  override readonly name = 'DataError';
  readonly code: DataErrorCode;
  /** The file or folder the error is about (absolute). */
  readonly path: string;
  /** 1-based line in a csv manifest, when the error is about one row. */
  readonly line: number | undefined;

  constructor(code: DataErrorCode, message: string, where: { path: string; line?: number; cause?: unknown }) {
    super(message, where.cause === undefined ? undefined : { cause: where.cause });
    this.code = code;
    this.path = where.path;
    this.line = where.line;
  }
}

/** `file` or `file:line`, for messages. */
export function at(path: string, line?: number): string {
  return line === undefined ? path : `${path}:${line}`;
}

/** `data-not-found` for a path the script names, which the message shows resolved. */
export function notFound(what: string, path: string, cause?: unknown): DataError {
  return new DataError('data-not-found', `${what} '${path}' does not exist; check the path (a relative one starts at the script's folder, or under tl serve at its data root)`, { path, cause });
}
