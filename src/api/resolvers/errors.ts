/** GraphQL errors for malformed requests (not for a script's problems: those are diagnostics in payloads). */
import { GraphQLError } from 'graphql';
import type { Refusal } from '../../service/limits.ts';

export function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

export function refused(refusal: Refusal): GraphQLError {
  return new GraphQLError(refusal.message, { extensions: { code: refusal.code } });
}

/** An integer argument within [min, max], or the error that says so. */
export function intArg(name: string, value: number | null | undefined, fallback: number, min: number, max: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min || n > max) throw badInput(`'${name}' must be an integer from ${min} to ${max}, found ${n}`);
  return n;
}
