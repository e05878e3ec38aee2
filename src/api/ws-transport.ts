/**
 * graphql-ws over `ws` on the same path as HTTP, executing through yoga's envelop (the same
 * plugins, validation rules and context as HTTP). Thin adapter around untyped execution args.
 *
 * Auth happens at connection time (`connectionParams.authorization`, or the upgrade request's
 * Authorization header): a wrong token, or none when one is needed, closes the socket with 4401.
 * On a public-read server a connection without a token may run queries; a subscription or mutation
 * on it closes the socket with 4401.
 */
import type { Server } from 'node:http';
import { getOperationAST, type ExecutionArgs, type GraphQLError } from 'graphql';
import type { Disposable } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { createGraphQLError, type YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import { authorize, bearerToken, type AuthOptions } from './auth.ts';
import type { Context } from './context.ts';

export const CLOSE_UNAUTHORIZED = 4401;

export interface WebSocketOptions {
  readonly httpServer: Server;
  readonly path: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- yoga's server context is untyped here
  readonly yoga: YogaServerInstance<Record<string, any>, Context>;
  readonly auth: AuthOptions;
  /** Largest message a client may send, in bytes; larger closes the socket (1009). */
  readonly maxPayload: number;
}

export interface WebSocketTransport {
  /** Closes every socket and the WebSocketServer. */
  dispose(): Promise<void>;
  clients(): number;
}

/** Close reasons are limited to 123 bytes by the websocket protocol. */
const reason = (text: string) => (Buffer.byteLength(text) <= 123 ? text : `${text.slice(0, 120)}...`);

export function attachWebSockets(o: WebSocketOptions): WebSocketTransport {
  const wss = new WebSocketServer({ server: o.httpServer, path: o.path, maxPayload: o.maxPayload });
  // Which sockets connected without a token on a public-read server.
  const anonymous = new WeakSet<WebSocket>();
  const disposable: Disposable = useServer<Record<string, unknown>>(
    {
      onConnect: (ctx) => {
        if (o.auth.token === null) return true;
        const presented = bearerToken(ctx.connectionParams?.['authorization']) ?? bearerToken(ctx.extra.request.headers.authorization);
        let refusal: string | null = null;
        if (presented !== null) {
          const decision = authorize(o.auth, presented, null);
          if (!decision.ok) refusal = decision.reason;
        } else if (o.auth.publicRead) anonymous.add(ctx.extra.socket);
        else refusal = 'this server needs connectionParams.authorization: Bearer TOKEN';
        if (refusal === null) return true;
        ctx.extra.socket.close(CLOSE_UNAUTHORIZED, reason(refusal));
        return false;
      },
      onSubscribe: async (ctx, _id, payload) => {
        const enveloped = o.yoga.getEnveloped({ ...ctx, req: ctx.extra.request, socket: ctx.extra.socket, params: payload });
        let document;
        try {
          document = enveloped.parse(payload.query);
        } catch (err) {
          // yoga's parse throws GraphQLErrors (syntax errors, with locations); anything else is wrapped.
          return [(err as Error).name === 'GraphQLError' ? (err as GraphQLError) : createGraphQLError(String(err))];
        }
        const operation = getOperationAST(document, payload.operationName)?.operation ?? null;
        if (anonymous.has(ctx.extra.socket) && !authorize(o.auth, null, operation).ok) {
          ctx.extra.socket.close(CLOSE_UNAUTHORIZED, reason(`a ${operation} needs connectionParams.authorization: Bearer TOKEN`));
          return [createGraphQLError('unauthorized')];
        }
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? null,
          contextValue: await enveloped.contextFactory(),
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
        const errors = enveloped.validate(args.schema, args.document);
        return errors.length ? errors : args;
      },
      // The enveloped execute/subscribe travel in rootValue (yoga's documented graphql-ws recipe).
      execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => never }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => never }).subscribe(args),
    },
    wss,
  );
  return {
    dispose: async () => {
      await disposable.dispose();
    },
    clients: () => wss.clients.size,
  };
}
