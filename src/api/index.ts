/**
 * `tl/server`: the service in your own process. `JobService` holds the SQLite store, the queue and
 * the workers that train; `startServer` puts it on the network (GraphQL over HTTP, websockets and
 * server-sent events, the dashboard), as `tl serve` does.
 *
 * @example
 * import { JobService, startServer } from 'tl/server';
 * const service = JobService.open({ dbFile: 'tl.db', dataRoot: 'examples', runsDir: 'runs' });
 * const server = await startServer({ service, port: 4000, host: '127.0.0.1', auth: { token: null, publicRead: false } });
 * console.log(`listening on ${server.url}`);
 * // on shutdown: await server.close(); await service.stop();
 */
export { startServer, GRAPHQL_PATH, type RunningServer, type ServerOptions } from './server.ts';
export { JobService, type ServiceOptions, type SubmitResult } from '../service/job-service.ts';
export type { JobRecord, JobStatus, JobTask, StoredEvent } from '../service/types.ts';
