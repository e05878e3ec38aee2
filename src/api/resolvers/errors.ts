/**
 * GraphQL errors for malformed requests (not for a script's problems: those are diagnostics in
 * payloads). Made with yoga's createGraphQLError so they are instances of the GraphQLError class
 * yoga and graphql-ws check against, even where a bundler loads graphql's ESM build beside its CJS one.
 */
import type { GraphQLError } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import type { Refusal } from '../../service/limits.ts';

export function badInput(message: string): GraphQLError {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

export function refused(refusal: Refusal): GraphQLError {
  return createGraphQLError(refusal.message, { extensions: { code: refusal.code } });
}

/** An integer argument within [min, max], or the error that says so. */
export function intArg(name: string, value: number | null | undefined, fallback: number, min: number, max: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min || n > max) throw badInput(`'${name}' must be an integer from ${min} to ${max}, found ${n}`);
  return n;
}
