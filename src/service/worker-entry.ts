/**
 * A worker process: runs one job's plan with the executor (or searches its learning rate, for an
 * `lrFind` job) and posts its events to the service,
 * then exits, so whatever a run leaves behind (tensors, native memory, a wedged backend) goes with
 * the process. Started by fork-runner.ts with an IPC channel; never imported by the service.
 */
import { relative, sep } from 'node:path';
import { now, type ExecutorEvent } from '../executor/events.ts';
import type { Origin } from '../plan/schema.ts';
import type { JobTask } from './types.ts';
import type { BackendProbe, FromWorker, RunRequest, ToWorker } from './worker-protocol.ts';

const controller = new AbortController();

function send(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}

// The service is gone (killed, even with -9): stop at once, so a restarted service's worker is the
// only one writing this job's checkpoints.
process.on('disconnect', () => process.exit(1));

const executor = Promise.all([import('../executor/run.ts'), import('../executor/lr-find.ts')]).then(([run, lr]) => ({ runPlan: run.runPlan, findLearningRate: lr.findLearningRate }));
executor.then(
  () => send({ type: 'ready' }),
  (err: unknown) => {
    process.stderr.write(`worker: cannot load the executor: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

async function run(request: RunRequest): Promise<void> {
  if (request.task?.kind === 'lrFind') return findRate(request, request.task);
  if (request.task?.kind === 'evaluate') return evaluate(request, request.task);
  const { runPlan } = await executor;
  try {
    await runPlan(request.plan, {
      baseDir: request.baseDir,
      runDir: request.runDir,
      backend: request.backend,
      signal: controller.signal,
      ...(request.resume && { resume: true }),
      ...(request.progressEveryMs !== undefined && { progressEveryMs: request.progressEveryMs }),
      onEvent: (event: ExecutorEvent) => void send({ type: 'event', event }),
    });
    await send({ type: 'done', ok: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    await send({ type: 'done', ok: false, code: typeof code === 'string' ? code : 'internal', message: (err as Error).message ?? String(err) });
  }
  process.exit(0);
}

/**
 * An `lrFind` job: the search's events, and those of the run of the phases before where it trains
 * them first, less that run's own ending and its checkpoints (kept in a folder the search removes).
 * A failure or a cancel ends the job with a jobFailed event, as a run's does.
 */
async function findRate(request: RunRequest, task: Extract<JobTask, { kind: 'lrFind' }>): Promise<void> {
  const { findLearningRate } = await executor;
  let ended = false;
  const emit = (event: ExecutorEvent) => {
    if (event.type === 'jobFinished' || event.type === 'checkpointSaved') return;
    if (event.type === 'jobFailed') ended = true;
    void send({ type: 'event', event });
  };
  try {
    await findLearningRate(request.plan, {
      baseDir: request.baseDir, backend: request.backend, signal: controller.signal, steps: task.steps, fromStart: task.fromStart,
      ...(task.phase !== null && { phase: task.phase }),
      warn: (message) => emit({ type: 'warning', at: now(), message }),
      onEvent: emit,
    });
    await send({ type: 'done', ok: true });
  } catch (err) {
    const cancelled = controller.signal.aborted;
    const e = err as { code?: unknown; message?: string; origin?: Origin | null };
    const code = cancelled ? 'cancelled' : typeof e.code === 'string' ? e.code : 'internal';
    const message = cancelled ? 'cancelled during the learning-rate search' : (e.message ?? String(err));
    if (!ended) emit({ type: 'jobFailed', at: now(), code, message, origin: e.origin ?? null, cancelled });
    await send({ type: 'done', ok: false, code, message });
  }
  process.exit(0);
}

/**
 * An `evaluate` job: the model another job exported, scored on `task.data` (absolute here). Its one
 * event, `evaluated`, names images by their paths under the data root, as the client wrote its data:
 * the server's own folders are not the client's business.
 */
async function evaluate(request: RunRequest, task: Extract<JobTask, { kind: 'evaluate' }>): Promise<void> {
  const emit = (event: ExecutorEvent) => void send({ type: 'event', event });
  try {
    const [{ evaluateModel }, { loadExported }, { selectBackend }] = await Promise.all([import('../executor/evaluate-model.ts'), import('../executor/predict.ts'), import('../executor/backends/select.ts')]);
    const backend = await selectBackend(request.backend);
    const model = await loadExported(request.model!);
    const evaluation = await evaluateModel(model, task.data, {
      worst: task.worst, tta: task.tta, signal: controller.signal,
      warn: (message) => emit({ type: 'warning', at: now(), message: underRoot(message, request.baseDir) }),
    });
    const mistakes = evaluation.mistakes.map((m) => ({ ...m, source: relative(request.baseDir, m.source) }));
    emit({ type: 'evaluated', at: now(), backend: backend.name, evaluation: { ...evaluation, mistakes } });
    await send({ type: 'done', ok: true });
  } catch (err) {
    const cancelled = controller.signal.aborted;
    const e = err as { code?: unknown; message?: string };
    const code = cancelled ? 'cancelled' : typeof e.code === 'string' ? e.code : 'internal';
    const message = cancelled ? 'cancelled while reading the images' : underRoot(e.message ?? String(err), request.baseDir);
    emit({ type: 'jobFailed', at: now(), code, message, origin: null, cancelled });
    await send({ type: 'done', ok: false, code, message });
  }
  process.exit(0);
}

/** A message with the data root's absolute path taken out: paths from the root, as the client writes them. */
function underRoot(message: string, root: string): string {
  return message.replaceAll(`${root}${sep}`, '').replaceAll(root, '.');
}

/** Which backends load here. `auto` stops at the first that works, so the rest are tried one by one. */
async function probe(): Promise<void> {
  const { selectBackend, BACKENDS, NoBackendError } = await import('../executor/backends/select.ts');
  const found: BackendProbe[] = [];
  let auto: string | null = null;
  try {
    const choice = await selectBackend('auto');
    auto = choice.name;
    for (const s of choice.skipped) found.push({ name: s.name, available: false, detail: s.why });
    found.push({ name: choice.name, available: true, detail: choice.detail });
  } catch (err) {
    found.length = 0;
    process.stderr.write(`worker: no backend: ${(err as Error).message}\n`);
  }
  for (const name of BACKENDS) {
    if (name === 'auto' || found.some((f) => f.name === name)) continue;
    try {
      const choice = await selectBackend(name);
      found.push({ name, available: true, detail: choice.detail });
    } catch (err) {
      const why = err instanceof NoBackendError ? err.skipped.map((s) => s.why).join('; ') : (err as Error).message;
      found.push({ name, available: false, detail: why });
    }
  }
  await send({ type: 'probed', backends: found, auto });
  process.exit(0);
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'run') void run(message.request);
  else if (message.type === 'cancel') controller.abort();
  else if (message.type === 'probe') void probe();
});
