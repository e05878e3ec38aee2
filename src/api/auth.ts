/**
 * Bearer-token access control. With a token configured, mutations and subscriptions need it, and
 * queries too unless reads are public. A wrong token is refused whatever the operation. Over HTTP
 * a refusal is a 401; over websockets the connection closes with 4401.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { getOperationAST, parse, type OperationTypeNode } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';

export interface AuthOptions {
  /** null: no token configured, everything is open. */
  readonly token: string | null;
  /** Queries without a token (mutations and subscriptions still need it). */
  readonly publicRead: boolean;
}

export type AuthDecision = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const OK: AuthDecision = { ok: true };

/** The token in an `Authorization: Bearer TOKEN` value, or null. */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/** Constant-time: hashing first makes the lengths equal, so the comparison leaks neither. */
function matches(expected: string, presented: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

/** Whether a request with this token (or none) may run an operation of this type; `null`: not known yet. */
export function authorize(auth: AuthOptions, presented: string | null, operation: OperationTypeNode | null): AuthDecision {
  if (auth.token === null) return OK;
  if (presented !== null) return matches(auth.token, presented) ? OK : { ok: false, reason: 'wrong token: check the Bearer token' };
  if (auth.publicRead && (operation === null || operation === 'query')) return OK;
  return { ok: false, reason: auth.publicRead ? `a ${operation} needs Authorization: Bearer TOKEN` : 'this server needs Authorization: Bearer TOKEN' };
}

function operationType(query: string | undefined, operationName: string | undefined): OperationTypeNode | null {
  if (!query) return null;
  try {
    return getOperationAST(parse(query), operationName)?.operation ?? null;
  } catch {
    // Unparseable: yoga reports the syntax error and nothing runs.
    return null;
  }
}

/** The yoga plugin for HTTP and SSE requests: checks before anything is parsed for execution. */
export function useBearerAuth(auth: AuthOptions): Plugin {
  return {
    onParams({ params, request }) {
      if (auth.token === null) return;
      const presented = bearerToken(request.headers.get('authorization'));
      // Without a token on a public-read server the operation type decides; parse only then.
      const operation = presented === null && auth.publicRead ? operationType(params.query, params.operationName) : null;
      const decision = authorize(auth, presented, operation);
      if (!decision.ok) {
        throw createGraphQLError(decision.reason, {
          extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer realm="tl"' } } },
        });
      }
    },
  };
}
