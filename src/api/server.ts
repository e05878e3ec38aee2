/**
 * The HTTP server: GraphQL over HTTP, SSE and graphql-ws on one path (/graphql), GraphiQL on a
 * browser's GET /graphql, and GET /health.
 *
 * GraphiQL is served whole from this process (@graphql-yoga/render-graphiql: its script, styles and
 * editor workers inlined), not from a CDN as yoga's default page loads
 * it, so it works where TL's embedded default is meant to: on a machine with no internet.
 *
 * @example
 * const service = JobService.open({ dbFile: 'tl.db', dataRoot: 'data', runsDir: 'runs' });
 * const server = await startServer({ service, port: 4000, host: '127.0.0.1', auth: { token: null, publicRead: false } });
 * console.log(server.url); // http://127.0.0.1:4000/graphql
 * await server.close();
 * await service.stop();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ValidationRule } from 'graphql';
import { createGraphQLError, createYoga, type GraphiQLOptions, type Plugin } from 'graphql-yoga';
import type { JobService } from '../service/job-service.ts';
import { useBearerAuth, type AuthOptions } from './auth.ts';
import type { Context } from './context.ts';
import { costLimitRule, DEFAULT_QUERY_LIMITS, depthLimitRule, type QueryLimits } from './query-limits.ts';
import { buildApiSchema } from './schema.ts';
import { isWebRequest, serveWeb } from './static.ts';
import { attachWebSockets } from './ws-transport.ts';

export const GRAPHQL_PATH = '/graphql';

export interface ServerOptions {
  readonly service: JobService;
  /** 0 picks a free port (see `RunningServer.port`). */
  readonly port: number;
  readonly host: string;
  readonly auth: AuthOptions;
  readonly queryLimits?: Partial<QueryLimits>;
  /** Largest HTTP body or websocket message, in bytes (default 1 MiB). */
  readonly maxRequestBytes?: number;
  readonly version?: string;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Closes websockets (ending their subscriptions), then every HTTP connection, then the listener. */
  close(): Promise<void>;
}

/**
 * graphql-js stops validating an operation whose overlapping fields or fragment spreads would take
 * too long to compare (thousands of aliases, say), with a bare "Validation aborted." that says
 * neither where nor why; the client gets that reason instead. (The error is graphql-js's internal
 * singleton, not exported, so it is known by its message; graphql's version is pinned and a test
 * sends such an operation.)
 */
const tooComplex = (e: unknown) =>
  e instanceof Error && e.message === 'Validation aborted.'
    ? createGraphQLError('the operation has too many fields or fragment spreads to validate in reasonable time (thousands of aliases of one field, say); ask for fewer', {
        extensions: { code: 'QUERY_TOO_COMPLEX' },
      })
    : e;

function useValidationRules(rules: readonly ValidationRule[]): Plugin {
  return {
    onValidate({ addValidationRule }) {
      for (const rule of rules) addValidationRule(rule);
      return ({ valid, result, setResult }) => {
        if (!valid) setResult(result.map(tooComplex));
      };
    },
  };
}

/**
 * Yoga answers a POST body it has no parser for (text/plain, say, or no content-type) with a bare
 * 415 and no body; the client is told what to send instead, as every other refusal tells it.
 */
function useExplainedMediaType(): Plugin {
  return {
    onResponse({ request, response, setResponse, fetchAPI }) {
      if (response.status !== 415 || response.body !== null) return;
      const found = request.headers.get('content-type');
      const message = `send the operation as JSON in a POST (content-type: application/json) or in a GET's query string; found ${found ? `content-type '${found}'` : 'no content-type'}`;
      setResponse(
        new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' } }] }), {
          status: 415,
          headers: { 'content-type': 'application/json; charset=utf-8' },
        }),
      );
    },
  };
}

/**
 * The GraphiQL page, loaded and rendered on the first browser's request (the module is 9 MB of
 * script: a server nobody browses never parses it). Every server of the process shows the same one.
 */
let graphiqlPage: Promise<string> | undefined;
const graphiql = (options: GraphiQLOptions) =>
  (graphiqlPage ??= import('@graphql-yoga/render-graphiql').then(({ renderGraphiQL }) => renderGraphiQL(options)));

function health(service: JobService, version: string, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ status: 'ok', version, ...service.stats() }));
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const limits: QueryLimits = { ...DEFAULT_QUERY_LIMITS, ...o.queryLimits };
  const maxBytes = o.maxRequestBytes ?? 1024 * 1024;
  const yoga = createYoga<Record<string, unknown>, Context>({
    schema: buildApiSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    context: () => ({ service: o.service }),
    plugins: [useBearerAuth(o.auth), useValidationRules([depthLimitRule(limits), costLimitRule(limits)]), useExplainedMediaType()],
    graphiql: { title: 'TL', subscriptionsProtocol: 'WS' },
    renderGraphiQL: graphiql,
    landingPage: false,
    maxRequestBodySize: maxBytes,
    maskedErrors: true,
    logging: 'warn',
  });

  const httpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && (req.url === '/health' || req.url?.startsWith('/health?'))) return health(o.service, o.version ?? '0.1.0', res);
    if (isWebRequest(req, GRAPHQL_PATH)) return serveWeb(req, res);
    void yoga(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(o.port, o.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  // Attached once listening: a websocket server on a listener that failed would log its error too.
  const ws = attachWebSockets({ httpServer, path: GRAPHQL_PATH, yoga, auth: o.auth, maxPayload: maxBytes });
  const { port } = httpServer.address() as AddressInfo;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}${GRAPHQL_PATH}`,
    port,
    close: () =>
      (closing ??= (async () => {
        await ws.dispose();
        httpServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      })()),
  };
}
