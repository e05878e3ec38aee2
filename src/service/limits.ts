/** What the service refuses past, each with a clear message. Every one is an option of `tl serve`'s service. */
export interface Limits {
  /** Bytes of .tl source a submission, check or plan may carry. */
  readonly maxScriptBytes: number;
  /** Jobs waiting in the queue (running ones not counted). */
  readonly maxQueuedJobs: number;
  /** Open jobEvents subscriptions on one job. */
  readonly maxSubscribersPerJob: number;
  /** Open jobUpdates subscriptions in all. */
  readonly maxUpdateSubscribers: number;
  /** Characters in a job's name. */
  readonly maxNameLength: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxScriptBytes: 64 * 1024,
  maxQueuedJobs: 100,
  maxSubscribersPerJob: 500,
  maxUpdateSubscribers: 500,
  maxNameLength: 200,
};

/** A request the service turned down that is not about one statement of a script. */
export interface Refusal {
  readonly code: string;
  readonly message: string;
}
