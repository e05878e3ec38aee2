/** The operations the dashboard sends (schema.graphql is the contract) and the shapes it reads. */
export type JobStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const STATUSES: readonly JobStatus[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

export interface Metrics {
  readonly loss: number | null;
  readonly accuracy: number | null;
  readonly valLoss: number | null;
  readonly valAccuracy: number | null;
  readonly adaptLoss: number | null;
  readonly domainAccuracy: number | null;
}
export interface FinalMetrics extends Metrics {
  readonly testAccuracy: number | null;
  readonly classes: readonly string[];
  readonly confusion: readonly (readonly number[])[];
  readonly perClass: readonly { label: string; precision: number | null; recall: number | null; support: number }[];
}
export interface Diagnostic {
  readonly code: string;
  readonly severity: 'ERROR' | 'WARNING';
  readonly message: string;
  readonly line: number | null;
  readonly column: number | null;
  readonly endLine: number | null;
  readonly endColumn: number | null;
}
/** What a learning-rate search found (LR_FIND jobs). */
export interface LrFound {
  readonly phase: string;
  readonly after: readonly string[];
  readonly steepest: number | null;
  readonly tenthOfMinimum: number | null;
  readonly suggested: number | null;
  readonly diverged: boolean;
  readonly points: readonly { readonly lr: number; readonly loss: number | null; readonly smoothed: number | null }[];
}
/** An exported model scored on labelled images (EVALUATE jobs, `tl evaluate`). */
export interface Evaluation {
  readonly images: number;
  readonly classes: readonly string[];
  readonly loss: number | null;
  readonly accuracy: number;
  readonly top5: number | null;
  readonly perClass: FinalMetrics['perClass'];
  readonly confusion: readonly (readonly number[])[];
  readonly confused: readonly { readonly truth: string; readonly predicted: string; readonly count: number }[];
  readonly mistakes: readonly { readonly source: string; readonly truth: string; readonly predicted: string; readonly probability: number; readonly truthProbability: number }[];
}
export interface JobSummary {
  readonly id: string;
  readonly name: string | null;
  readonly kind: 'TRAIN' | 'LR_FIND' | 'EVALUATE';
  readonly status: JobStatus;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly queuePosition: number | null;
  readonly cancelRequested: boolean;
  readonly phase: number | null;
  readonly phaseName: string | null;
  readonly epoch: number | null;
  readonly metrics: Metrics | null;
  /** A search's suggested rate, once it ended (the job page reads the whole result, as lrFound). */
  readonly suggestion: Pick<LrFound, 'suggested'> | null;
  /** An evaluation's accuracy, once it ended (the job page reads the whole evaluation). */
  readonly scored: Pick<Evaluation, 'accuracy'> | null;
}
export interface PlanPhase {
  readonly name: string;
  readonly epochs: number;
  readonly lr: number;
  readonly trainable: readonly string[];
  readonly trainableLayers: readonly string[];
  readonly lrMultipliers: Readonly<Record<string, number>> | null;
  /** `weightDecay` is absent from plans stored before it. */
  readonly optimizer: { readonly kind: string; readonly weightDecay?: number };
  /** Absent from plans stored before it. */
  readonly clip?: { readonly mode: string; readonly max: number } | null;
  /** `lr auto`: the phase's rate is searched as it starts (absent from plans stored before it). */
  readonly findLr?: boolean;
}
export interface Plan {
  readonly model: { readonly name?: string; readonly path?: string };
  readonly phases: readonly PlanPhase[];
  readonly adapt: { readonly method: string } | null;
  readonly labelSmoothing?: number;
}
export interface JobDetail extends JobSummary {
  readonly source: string;
  readonly plan: Plan;
  readonly attempts: number;
  readonly lastSeq: number;
  readonly result: FinalMetrics | null;
  readonly lrFound: LrFound | null;
  readonly exportPath: string | null;
  /** EVALUATE jobs: the job whose model it scores, the data, and what it measured. */
  readonly evaluates: { readonly id: string; readonly name: string | null } | null;
  readonly evaluationData: string | null;
  readonly evaluation: Evaluation | null;
  readonly error: { code: string; message: string; line: number | null; column: number | null } | null;
}

interface EventBase<T extends string> {
  readonly seq: number;
  readonly type: T;
  readonly attempt: number;
}
export type JobEvent =
  | (EventBase<'jobStarted'> & { backend: string; backendReason: string; model: string; classes: string[]; trainImages: number; valImages: number })
  | (EventBase<'phaseStarted'> & { phase: number; name: string; epochs: number; lr: number; trainable: string[] })
  | (EventBase<'batchProgress'> & { phase: number; epoch: number; batch: number; batches: number; loss: number | null; lr: number })
  | (EventBase<'epochEnded'> & { phase: number; epoch: number; epochs: number; metrics: Metrics; etaSeconds: number | null; imagesPerSecond: number | null })
  | (EventBase<'phaseEnded'> & { phase: number })
  | (EventBase<'checkpointSaved'> & { reason: string })
  | (EventBase<'jobFinished'> & { metrics: FinalMetrics; exportPath: string | null; seconds: number })
  | (EventBase<'jobFailed'> & { code: string; message: string; line: number | null; column: number | null; cancelled: boolean })
  | (EventBase<'warning'> & { message: string })
  | (EventBase<'lrPoint'> & { phase: number; name: string; step: number; steps: number; lr: number; loss: number | null; smoothed: number | null })
  | (EventBase<'lrFound'> & { result: LrFound })
  | (EventBase<'evaluated'> & { evaluation: Evaluation });

const METRICS = 'loss accuracy valLoss valAccuracy adaptLoss domainAccuracy';
const FINAL = `${METRICS} testAccuracy classes confusion perClass { label precision recall support }`;
const LR_FOUND = 'phase after steepest tenthOfMinimum suggested diverged points { lr loss smoothed }';
const EVALUATION = 'images classes loss accuracy top5 perClass { label precision recall support } confusion confused { truth predicted count } mistakes { source truth predicted probability truthProbability }';
const SUMMARY = `id name kind status createdAt startedAt finishedAt queuePosition cancelRequested phase phaseName epoch metrics { ${METRICS} } suggestion: lrFound { suggested } scored: evaluation { accuracy }`;
export const DIAGNOSTIC = 'code severity message line column endLine endColumn';

export const JOBS = `query Jobs($status: JobStatus, $after: String) {
  jobs(status: $status, first: 50, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { ${SUMMARY} } } }
}`;
export const JOB_UPDATES = `subscription JobUpdates { jobUpdates { ${SUMMARY} } }`;
export const JOB = `query Job($id: ID!) {
  job(id: $id) {
    ${SUMMARY} source plan attempts lastSeq result { ${FINAL} } lrFound { ${LR_FOUND} } exportPath
    evaluates { id name } evaluationData evaluation { ${EVALUATION} } error { code message line column }
  }
}`;
export const JOB_EVENTS = `subscription JobEvents($jobId: ID!, $after: Int) {
  jobEvents(jobId: $jobId, after: $after) {
    seq type attempt
    ... on JobStartedEvent { backend backendReason model classes trainImages valImages }
    ... on PhaseStartedEvent { phase name epochs lr trainable }
    ... on BatchProgressEvent { phase epoch batch batches loss lr }
    ... on EpochEndedEvent { phase epoch epochs etaSeconds imagesPerSecond metrics { ${METRICS} } }
    ... on PhaseEndedEvent { phase }
    ... on CheckpointSavedEvent { reason }
    ... on JobFinishedEvent { exportPath seconds metrics { ${FINAL} } }
    ... on JobFailedEvent { code message line column cancelled }
    ... on JobWarningEvent { message }
    ... on LrPointEvent { step steps lr loss smoothed }
    ... on LrFoundEvent { result { ${LR_FOUND} } }
    ... on EvaluatedEvent { evaluation { ${EVALUATION} } }
  }
}`;
export const CHECK = `query Check($source: String!) { check(source: $source) { ok diagnostics { ${DIAGNOSTIC} } } }`;
export const SUBMIT = `mutation Submit($source: String!, $name: String) {
  submitJob(input: { source: $source, name: $name }) { job { id } diagnostics { ${DIAGNOSTIC} } }
}`;
export const FIND_LR = `mutation FindLr($source: String!, $name: String, $phase: String) {
  findLearningRate(input: { source: $source, name: $name, phase: $phase }) { job { id } diagnostics { ${DIAGNOSTIC} } }
}`;
export const EVALUATE = `mutation Evaluate($job: ID!, $data: String!) {
  evaluateJob(input: { job: $job, data: $data }) { job { id } diagnostics { ${DIAGNOSTIC} } }
}`;
export const WITH_RATE = `query WithRate($source: String!, $phase: String!, $lr: Float!) { withLearningRate(source: $source, phase: $phase, lr: $lr) { source error } }`;
export const STARTER = `query Starter($data: String!, $model: String) { starterScript(data: $data, model: $model) { source error } }`;
export const CANCEL = `mutation Cancel($id: ID!) { cancelJob(id: $id) { job { ${SUMMARY} } diagnostics { ${DIAGNOSTIC} } } }`;
export const RESUME = `mutation Resume($id: ID!) { resumeJob(id: $id) { job { ${SUMMARY} } diagnostics { ${DIAGNOSTIC} } } }`;
