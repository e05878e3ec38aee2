/** Messages between the service and its worker processes (child_process IPC, JSON-serialised). */
import type { BackendName } from '../executor/backends/names.ts';
import type { ExecutorEvent } from '../executor/events.ts';
import type { Plan } from '../plan/schema.ts';
import type { JobTask } from './types.ts';

export interface RunRequest {
  readonly jobId: string;
  /** With every path already resolved to an absolute one inside the data root or the job's folder. */
  readonly plan: Plan;
  readonly baseDir: string;
  /** Checkpoints go to `${runDir}/checkpoint`. */
  readonly runDir: string;
  /** Continue from the checkpoint in runDir (the caller has checked that one exists). */
  readonly resume: boolean;
  readonly backend: BackendName;
  readonly progressEveryMs?: number;
  /** Default: train. An `evaluate` task's data is absolute here. */
  readonly task?: JobTask;
  /** For an `evaluate` task: the folder of the model it scores. */
  readonly model?: string;
}

export interface BackendProbe {
  readonly name: string;
  readonly available: boolean;
  readonly detail: string;
}

export type ToWorker =
  | { readonly type: 'run'; readonly request: RunRequest }
  /** Stop after the current batch; the executor saves a checkpoint first. */
  | { readonly type: 'cancel' }
  | { readonly type: 'probe' };

export type FromWorker =
  /** The executor is imported: a run starts without the import's delay. */
  | { readonly type: 'ready' }
  | { readonly type: 'event'; readonly event: ExecutorEvent }
  | { readonly type: 'done'; readonly ok: true }
  | { readonly type: 'done'; readonly ok: false; readonly code: string; readonly message: string }
  | { readonly type: 'probed'; readonly backends: readonly BackendProbe[]; readonly auto: string | null };
