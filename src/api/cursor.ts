/** Opaque pagination cursors: clients pass them back, never build them. */
import { badInput } from './resolvers/errors.ts';

const PREFIX = 'job:';

export function encodeCursor(position: number): string {
  return Buffer.from(`${PREFIX}${position}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const n = Number(text.slice(PREFIX.length));
  if (!text.startsWith(PREFIX) || !Number.isSafeInteger(n) || n < 0) {
    throw badInput(`'${cursor}' is not a cursor this server made; pass a pageInfo.endCursor back as 'after'`);
  }
  return n;
}
