/**
 * The seam between the service and whatever trains: `ForkRunner` (a worker process per job) is the
 * default; a runner that sends jobs to other machines could implement the same interface.
 */
import type { ExecutorEvent } from '../executor/events.ts';
import type { BackendProbe, RunRequest } from './worker-protocol.ts';

export interface RunHooks {
  /** Every executor event, in order, as it happens. */
  readonly onEvent: (event: ExecutorEvent) => void;
  /** Aborting asks the run to stop after its current batch (the executor saves a checkpoint). */
  readonly signal: AbortSignal;
}

export type RunOutcome =
  | { readonly kind: 'finished' }
  | { readonly kind: 'failed'; readonly code: string; readonly message: string }
  /** The worker died (killed, out of memory, a native crash) or ignored a cancel past its grace period. */
  | { readonly kind: 'crashed'; readonly message: string };

export interface BackendReport {
  readonly backends: readonly BackendProbe[];
  /** What `--backend auto` picks; null when nothing loads. */
  readonly auto: string | null;
}

export interface JobRunner {
  /** Resolves when the run is over, however it ended; never rejects. */
  run(request: RunRequest, hooks: RunHooks): Promise<RunOutcome>;
  /** Which backends a worker can load. */
  probe(): Promise<BackendReport>;
  /** Starts a worker ahead of the first job, so its start-up cost is not the job's. */
  warm(): void;
  /** Kills every worker and waits for them to exit. */
  close(): Promise<void>;
}
