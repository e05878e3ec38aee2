/**
 * `tl/client`: a typed client of a running `tl serve` (submit, search a learning rate, cancel, read
 * a job, follow its events live). It loads no tfjs, no server code and, in a browser, no Node module.
 */
export { endpoint, locateDiagnostics, TlClient, TlClientError, type ApiDiagnostic, type FollowOptions, type JobEvent, type LiveOptions, type JobSummary, type Submission } from './tl-client.ts';
export type { EpochMetrics, ExecutorEvent, FinalMetrics, LrFindResult, LrPoint } from '../executor/events.ts';
export { isTerminalEvent } from '../service/types.ts';
