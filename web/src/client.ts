/**
 * The GraphQL client: queries and mutations over HTTP POST, subscriptions over graphql-ws on the
 * same /graphql path. Subscriptions reconnect by themselves with a backoff; each resubscription
 * asks for its variables again, so a job's events resume with `after` set to the last seq seen.
 */
import { createClient, type Client } from 'graphql-ws';
import { askToken, authHeader } from './token.ts';

export const ENDPOINT = '/graphql';
const UNAUTHORIZED = 4401;

export class GraphQLRequestError extends Error {}

type ConnState = 'connecting' | 'live' | 'reconnecting' | 'idle';
const listeners = new Set<(s: ConnState) => void>();
export function onConnection(fn: (s: ConnState) => void): void {
  listeners.add(fn);
}
const setState = (s: ConnState) => listeners.forEach((fn) => fn(s));

export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  for (;;) {
    const res = await fetch(ENDPOINT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...authHeader() },
      body: JSON.stringify({ query, variables }),
    });
    if (res.status === 401) {
      await askToken('the request was refused');
      continue;
    }
    const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
    if (body.errors?.length) throw new GraphQLRequestError(body.errors.map((e) => e.message).join('; '));
    if (!body.data) throw new GraphQLRequestError(`no data (HTTP ${res.status})`);
    return body.data;
  }
}

let client: Client | null = null;
let refused = false;

function ws(): Client {
  return (client ??= createClient({
    url: new URL(ENDPOINT, location.href).href.replace(/^http/, 'ws'),
    lazy: true,
    // We retry ourselves so each resubscription can move `after` forward.
    retryAttempts: 0,
    keepAlive: 10_000,
    connectionParams: () => authHeader(),
    on: {
      connecting: () => setState('connecting'),
      connected: () => setState('live'),
      closed: (event) => {
        if ((event as CloseEvent | undefined)?.code === UNAUTHORIZED) refused = true;
        setState('idle');
      },
    },
  }));
}

export interface LiveOptions<T> {
  readonly query: string;
  /** Called at each (re)subscription. */
  readonly variables: () => Record<string, unknown>;
  readonly next: (data: T) => void;
  /** The server completed the subscription (e.g. the job ended). */
  readonly complete?: () => void;
  /** Called after a reconnect, before the new subscription's first result. */
  readonly reconnected?: () => void;
}

/** Subscribes until the returned function is called, reconnecting after any failure. */
export function live<T>(o: LiveOptions<T>): () => void {
  let stopped = false;
  let unsubscribe: (() => void) | null = null;
  let delay = 250;
  let failed = false;
  const start = () => {
    if (stopped) return;
    if (failed) o.reconnected?.();
    unsubscribe = ws().subscribe<T>(
      { query: o.query, variables: o.variables() },
      {
        next: (result) => {
          delay = 250;
          if (result.errors?.length) console.warn('subscription error', result.errors);
          if (result.data) o.next(result.data);
        },
        error: async () => {
          unsubscribe = null;
          if (stopped) return;
          failed = true;
          setState('reconnecting');
          if (refused) {
            refused = false;
            await askToken('the live connection was refused');
          }
          setTimeout(start, delay);
          delay = Math.min(delay * 2, 5000);
        },
        complete: () => {
          unsubscribe = null;
          if (!stopped) o.complete?.();
        },
      },
    );
  };
  start();
  return () => {
    stopped = true;
    unsubscribe?.();
  };
}

/** Closes the websocket (tests use it to check reconnection; so does leaving the page). */
export function dropConnection(): void {
  client?.terminate();
  client = null;
}
