/**
 * The executor: plan in, trained and exported model out, typed events on the way.
 *
 * @example
 * const result = await runPlan(plan, { baseDir: 'examples', runDir: 'runs/x', onEvent: (e) => console.log(e.type) });
 */
import { isAbsolute, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Phase, Plan } from '../plan/schema.ts';
import { describeClip, describeOptimizer, describeSchedule } from '../plan/describe.ts';
import { createAdaptation, dualForward, loadTarget, requireTarget, type Adaptation, type PhaseContext } from './adapt/index.ts';
import { createRng, type Rng } from './augment/index.ts';
import type { BackendChoice, BackendName } from './backends/select.ts';
import type { StepOutput } from './backends/steps.ts';
import { EVAL_BATCH, imageBatch, predictAll } from './batches.ts';
import { inModelOrder, loadCheckpoint, saveCheckpoint, type EpochSoFar } from './checkpoint.ts';
import type { Dataset } from './data/index.ts';
import { ExecutorError, wrap } from './errors.ts';
import { earlyStopper, improvement } from './early-stop.ts';
import { evaluate, finalMetrics, finalValidation, loadTestSet, type Score } from './evaluate.ts';
import { exportModel, prepareExport } from './export-model.ts';
import { prepareWritable, whyNotWritable } from './make-directory.ts';
import { CACHE_BYTES, type Inputs } from './inputs.ts';
import { guardMemory, runStep } from './train-step.ts';
import { now, suggestedRate, type EpochMetrics, type ExecutorEvent, type FinalMetrics } from './events.ts';
import type { Network } from './network.ts';
import { restoreOptimizer } from './optimizers.ts';
import { openPhase } from './open-phase.ts';
import { LR_SEARCH, searchInPlace } from './rate-search.ts';
import { checkedPlan } from './checked-plan.ts';
import { learningRateAt } from './schedule.ts';
import { batchNormLayers, measureBatchNorm, writeBatchNorm } from './batch-norm-stats.ts';
import { prepareNetwork, requireReads } from './prepare.ts';

export interface RunOptions {
  /** Relative paths in the plan resolve against this folder (the script's). */
  readonly baseDir: string;
  /** Checkpoints go here. */
  readonly runDir: string;
  /** Hears every event as it happens (default: none heard; the result still comes back). */
  readonly onEvent?: (event: ExecutorEvent) => void;
  readonly backend?: BackendName;
  readonly signal?: AbortSignal;
  readonly resume?: boolean;
  readonly cacheDir?: string;
  readonly onCorrupt?: 'skip' | 'stop';
  /** The most bytes of frozen-prefix activations a phase caches to train on (default CACHE_BYTES; 0 turns caching off, for benchmarks). */
  readonly cacheBytes?: number;
  /** Minimum milliseconds between batchProgress events. */
  readonly progressEveryMs?: number;
}

export interface RunResult {
  readonly metrics: FinalMetrics;
  readonly exportPath: string | null;
}

export async function runPlan(given: Plan, options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const emit = options.onEvent ?? (() => {});
  const warn = (message: string) => emit({ type: 'warning', at: now(), message });
  const path = (p: string) => (isAbsolute(p) ? p : resolve(options.baseDir, p));
  let adaptation: Adaptation | null = null;
  let network: Network | null = null;
  try {
    const plan = checkedPlan(given);
    // Every path the script reads, looked at before the base loads (its weights may download first).
    const dataSpec = await requireReads(plan, options.baseDir);
    if (plan.adapt) await requireTarget(plan.adapt, options.baseDir);
    // And every folder it writes, made and checked, so that one that cannot take them fails before the training.
    const exportPath = plan.export ? path(plan.export.path) : null;
    if (exportPath) prepareExport(exportPath, plan.export!.origin);
    const checkpointDir = join(options.runDir, 'checkpoint');
    const checkpointFailure = (err: unknown) =>
      new ExecutorError('checkpoint-failed', `cannot save a checkpoint in '${options.runDir}': ${whyNotWritable(err)}`, plan.checkpoint?.origin ?? null, { cause: err });
    if (plan.checkpoint) {
      try {
        prepareWritable(options.runDir);
      } catch (err) {
        throw checkpointFailure(err);
      }
    }
    const { backend, data, net } = await prepareNetwork(plan, dataSpec, options, warn);
    network = net;
    const { base } = net;
    const classes = data.classes;
    const testSet = await loadTestSet(plan, classes, base.inputSize, options);
    const rng = createRng(plan.seed);
    adaptation = plan.adapt && (await prepareAdaptation(plan, net, data, rng, options, warn));
    const phases: readonly Phase[] = [...plan.phases, ...(adaptation?.extraPhases(plan.phases.at(-1)!) ?? [])];
    emit({
      type: 'jobStarted', at: now(), backend: backend.name, backendReason: backend.reason, model: base.name, classes,
      trainImages: data.train.count, valImages: data.val.count, phases: phases.map((p) => ({ name: p.name, epochs: p.epochs })),
      adaptation: adaptation && { method: adaptation.plan.method, target: adaptation.plan.target, targetImages: adaptation.target.count },
    });
    const hookContext: PhaseContext = {
      classes: classes.length,
      predictTarget: async () => (await predictAll(adaptation!.target.count, EVAL_BATCH, (idx) => imageBatch(adaptation!.target, idx, base.preprocess), net.full)).data,
    };

    const resumed = options.resume ? await wrap('checkpoint-mismatch', null, () => loadCheckpoint(net.full, checkpointDir)) : null;
    if (options.resume && !resumed) throw new ExecutorError('no-checkpoint', `nothing to resume: no checkpoint in ${checkpointDir}`);
    const resumeAt = resumed?.state ?? { phase: 0, epochsDone: 0 };
    // The run's state as the checkpoint left it; the phase it was saved in takes up its own part below.
    const saved = resumed?.state.run;
    if (saved) {
      rng.restore(saved.rng);
      net.dropout.forEach((d, i) => (d.calls = saved.dropoutCalls[i] ?? 0));
    }
    if (resumed && resumed.adaptVariables.length > 0) {
      const own = adaptation?.variables ?? [];
      if (own.length !== resumed.adaptVariables.length) throw new ExecutorError('checkpoint-mismatch', `checkpoint ${checkpointDir} holds ${resumed.adaptVariables.length} adaptation variables, the script's adaptation has ${own.length}; was the script changed?`);
      own.forEach((v, i) => v.assign(resumed.adaptVariables[i]!));
      tf.dispose(resumed.adaptVariables);
    }

    const totalEpochs = phases.reduce((a, p) => a + p.epochs, 0);
    let epochsDoneOverall = phases.slice(0, resumeAt.phase).reduce((a, p) => a + p.epochs, 0) + resumeAt.epochsDone;
    let last: EpochMetrics | null = saved?.last ?? null;
    let validation: Score | null | undefined;

    // The rates `lr auto` found, by phase: a checkpoint keeps them, so a phase resumed trains at its own.
    const rates: Record<number, number> = { ...saved?.rates };
    for (let p = resumeAt.phase; p < phases.length; p++) {
      const planned = phases[p]!;
      const firstEpoch = p === resumeAt.phase ? resumeAt.epochsDone : 0;
      // A checkpoint saved at a phase's last epoch resumes into no epochs of it, but into its end
      // (early stopping's best weights put back, adaptation after the phase, the phase's summary).
      if (planned.epochs === 0) continue;
      // Resumed in the phase its checkpoint was saved in: that phase's optimizers, trackers and place.
      const within = p === resumeAt.phase ? saved : undefined;
      if (planned.findLr && (within?.rates?.[p] === undefined)) rates[p] = await searchPhaseRate(net, data, plan, planned, p, { backend, emit, warn, ...(options.signal && { signal: options.signal }) });
      const phase: Phase = planned.findLr ? { ...planned, lr: rates[p]! } : planned;
      const open = await openPhase(net, data, plan, phase, {
        backend, lr: phase.lr, cacheBytes: options.cacheBytes ?? CACHE_BYTES, target: adaptation?.target ?? null, validates: true,
        // An adaptation's own variables learn at the head's rate.
        extra: adaptation && { factor: phase.lrMultipliers?.['head'] ?? 1, variables: [...adaptation.variables] },
        // What the phase began with (AdaBN's statistics in the weights, self-training's labels) is in the checkpoint.
        beforeInputs: async () => {
          if (within && adaptation && within.adapt !== undefined) adaptation.restore(within.adapt);
          else await adaptation?.beforePhase(p, hookContext);
        },
        warn: (m) => warn(`phase '${phase.name}': ${m}`),
      });
      const { vars, inputs, model, optimizers, steps, classWeights } = open;
      let lastLr = Number.NaN;
      try {
        emit({ type: 'phaseStarted', at: now(), phase: p, name: phase.name, epochs: phase.epochs, trainable: phase.trainable, trainableParams: vars.trainableParams, lr: phase.lr, lrSearched: planned.findLr, unitRates: vars.unitFactors.map(({ unit, factor }) => ({ unit, lr: Number((phase.lr * factor).toPrecision(6)) })), optimizer: describeOptimizer(phase.optimizer), schedule: describeSchedule(phase.schedule), clip: describeClip(phase.clip), cachedFeatures: inputs.cachedAt !== null, cachedAt: inputs.cachedAt });
        if (within) {
          if (resumed!.optimizers.length !== optimizers.length) throw new ExecutorError('checkpoint-mismatch', `checkpoint ${checkpointDir} holds ${resumed!.optimizers.length} optimizers, the phase has ${optimizers.length}; was the script changed?`);
          for (const [i, o] of optimizers.entries()) {
            await restoreOptimizer(o.optimizer, resumed!.optimizers[i]!);
            tf.dispose(resumed!.optimizers[i]!.map((w) => w.tensor)); // the optimizer's variables hold their own
          }
        }
        const term = adaptation?.term(p) ?? null;
        const adapt = term && { term, forward: dualForward(model, net.head) };
        const stop = earlyStopper(plan, within && { state: within.stopper, weights: resumed!.bestWeights && inModelOrder(net.full, resumed!.bestWeights, `checkpoint ${checkpointDir}'s best weights`) });
        // `checkpoint best` saves on its own monitor, which may not be early stopping's.
        const bestForCheckpoint = plan.checkpoint?.kind === 'best' ? improvement(plan.checkpoint.monitor, within?.checkpointBest) : null;
        /** What a checkpoint saved now holds besides the weights; `epoch` where it is saved within one. */
        const checkpoint = async (epochsDone: number, epoch: EpochSoFar | null) => {
          for (const d of net.dropout) await d.sync?.();
          const run = {
            rng: rng.state(), dropoutCalls: net.dropout.map((d) => d.calls), stopper: stop.state(),
            checkpointBest: bestForCheckpoint?.best() ?? null, last, epoch, adapt: adaptation?.state() ?? null, rates,
          };
          const extras = { optimizers: optimizers.map((o) => o.optimizer), bestWeights: stop.bestWeights(), adaptVariables: adaptation?.variables ?? [] };
          return saveCheckpoint(net.full, checkpointDir, { phase: p, epochsDone, savedAt: now(), run }, extras).catch((err: unknown) => {
            throw checkpointFailure(err);
          });
        };
        let epochsRun = 0;

        for (let epoch = firstEpoch; epoch < phase.epochs && !stop.shouldStop(); epoch++) {
          const t0 = performance.now();
          // A checkpoint saved within this epoch: the same batch order, then on from its batch.
          const part = epoch === firstEpoch ? within?.epoch : null;
          if (part) rng.restore(part.rngAtStart);
          const rngAtStart = rng.state();
          const order = rng.permutation(data.train.count);
          if (part) rng.restore(saved!.rng);
          const batches = Math.ceil(order.length / phase.batch);
          let lossSum = part?.lossSum ?? 0;
          let correct = part?.correct ?? 0;
          let lastProgress = 0;
          const extra = { ...(part?.extra ?? { loss: 0, domainHits: 0, domainRows: 0 }) };
          // `clip norm`: the sum of the steps' gradient norms before clipping, and how many were clipped (none in checkpoints from before).
          const norms = { ...(part?.norms ?? { sum: 0, clipped: 0, steps: 0 }) };
          const byNorm = phase.clip?.mode === 'norm' ? phase.clip.max : null;
          // Step b's scalars are read after step b + 1 is queued: on a GPU, reading waits for the queue
          // to drain, and reading one step late lets the host build the next step while the GPU runs.
          let pending: { step: StepOutput; adapted: boolean; domainRows: number; b: number; rows: number; lr: number } | null = null;
          const settle = async (): Promise<void> => {
            if (pending === null) return;
            const { step, adapted, domainRows, b, rows, lr } = pending;
            pending = null;
            const values = await step.read();
            const [loss = 0, hits = 0, adaptLoss = 0, domainHits = 0] = values;
            if (byNorm !== null) {
              // Where the step clips by norm, the norm comes last.
              const norm = values[values.length - 1]!;
              norms.sum += norm;
              norms.steps++;
              if (norm > byNorm) norms.clipped++;
            }
            lossSum += loss * rows;
            correct += hits;
            if (adapted) extra.loss += adaptLoss * rows;
            if (domainRows > 0) {
              extra.domainHits += domainHits;
              extra.domainRows += domainRows;
            }
            const t = performance.now();
            if (t - lastProgress > (options.progressEveryMs ?? 250) || b === batches - 1) {
              lastProgress = t;
              emit({ type: 'batchProgress', at: now(), phase: p, epoch: epoch + 1, batch: b + 1, batches, loss: lossSum / ((b * phase.batch) + rows), lr });
            }
          };
          for (let b = part?.batches ?? 0; b < batches; b++) {
            // Training awaits only promises that settle at once on wasm and cpu, which would starve the
            // event loop: yield each batch so a cancel (IPC message, Ctrl-C) is seen between batches.
            await new Promise<void>((r) => setImmediate(r));
            if (options.signal?.aborted) {
              await settle();
              const savedTo = await checkpoint(epoch, { batches: b, rngAtStart, lossSum, correct, extra, norms });
              emit({ type: 'checkpointSaved', at: now(), phase: p, epoch, path: savedTo, reason: 'cancel' });
              throw new ExecutorError('cancelled', `cancelled in phase '${phase.name}', epoch ${epoch + 1}, after saving a checkpoint to resume from`);
            }
            const idx = order.subarray(b * phase.batch, Math.min(order.length, (b + 1) * phase.batch));
            const lr = learningRateAt(phase, epoch, b / batches);
            if (lr !== lastLr) open.setRate(lr);
            lastLr = lr;
            const progress = (epochsDoneOverall + b / batches) / Math.max(1, totalEpochs);
            const stepAdapt = adapt && { ...adapt, progress };
            // A full batch repeats the step before (the learning rate is a value on the GPU, and what an
            // adaptation term draws is made before the step): where the backend can, such steps are
            // recorded and replayed (backends/steps.ts).
            const { output: step, domainRows } = guardMemory(backend.name, phase, () =>
              runStep(steps, idx.length === phase.batch, { model, inputs, set: data.train, idx, classes: classes.length, plan, rng, preprocess: base.preprocess, optimizers, classWeights, adapt: stepAdapt, clip: phase.clip }),
            );
            await settle();
            pending = { step, adapted: stepAdapt !== null, domainRows, b, rows: idx.length, lr };
          }
          await settle();
          if (plan.batchNorm.recalibrate === 'epoch') await recalibrateBatchNorm(net, inputs, data.train.count, term ? adaptation!.target.count : 0);
          const val = data.val.count > 0 ? await evaluate(model, inputs, data.val, 'val', classes.length) : null;
          const seconds = (performance.now() - t0) / 1000;
          last = {
            loss: lossSum / data.train.count, accuracy: correct / data.train.count,
            valLoss: val?.loss ?? null, valAccuracy: val?.accuracy ?? null, valTop5: val?.top5 ?? null,
            ...(byNorm !== null && norms.steps > 0 && { gradNorm: norms.sum / norms.steps, clipped: norms.clipped / norms.steps }),
            ...(adaptation && {
              adaptLoss: term ? extra.loss / data.train.count : null,
              domainAccuracy: extra.domainRows > 0 ? extra.domainHits / extra.domainRows : null,
              pseudoLabels: adaptation.pseudoLabels(),
            }),
          };
          epochsRun++;
          epochsDoneOverall++;
          emit({ type: 'epochEnded', at: now(), phase: p, epoch: epoch + 1, epochs: phase.epochs, metrics: last, imagesPerSecond: data.train.count / seconds, seconds, etaSeconds: seconds * (totalEpochs - epochsDoneOverall) });

          stop.observe(last, net.full);
          const cp = plan.checkpoint;
          if (cp && ((cp.kind === 'best' && bestForCheckpoint!(last)) || (cp.kind === 'every' && (epoch + 1) % cp.epochs === 0))) {
            const savedTo = await checkpoint(epoch + 1, null);
            emit({ type: 'checkpointSaved', at: now(), phase: p, epoch: epoch + 1, path: savedTo, reason: cp.kind });
          }
        }
        const stoppedEarly = epochsRun < phase.epochs - firstEpoch;
        const best = stop.finish(net.full);
        // The validation images are source-domain: measured before adabn turns the network to the target.
        if (p === phases.length - 1) validation = await finalValidation(net, data, classes.length);
        await adaptation?.afterPhase(p, hookContext);
        const { stats } = steps;
        const replay = stats ? { steps: stats.ran + stats.recorded + stats.replayed, replayed: stats.replayed, note: stats.why } : null;
        emit({ type: 'phaseEnded', at: now(), phase: p, name: phase.name, epochsRun, stoppedEarly, best, replay, tiles: open.tiles });
      } finally {
        open.close();
      }
    }

    validation ??= await finalValidation(net, data, classes.length);
    await adaptation?.afterTraining(hookContext);
    // Exported before the test set is scored, so that nothing after training can lose it.
    if (exportPath) await exportModel(net, exportPath, plan, classes);
    const metrics = await finalMetrics(net, data, testSet, classes, last, validation);
    const seconds = (performance.now() - started) / 1000;
    emit({ type: 'jobFinished', at: now(), metrics, exportPath, seconds });
    return { metrics, exportPath };
  } catch (err) {
    // A cancel that lands while data or the model is still loading surfaces as that step's abort.
    const e = options.signal?.aborted && !(err instanceof ExecutorError && err.code === 'cancelled')
      ? new ExecutorError('cancelled', 'cancelled before training started', null, { cause: err })
      : err instanceof ExecutorError ? err : new ExecutorError('internal', (err as Error).message ?? String(err), null, { cause: err });
    const code = e === err ? (err as { code?: string }).code : e.code;
    emit({ type: 'jobFailed', at: now(), code: typeof code === 'string' ? code : e.code, message: e.message, origin: e.origin, cancelled: e.code === 'cancelled' });
    throw e;
  } finally {
    // The network's weights are the export's and the checkpoint's now: a caller in the same process (lr-find) keeps no tensor.
    adaptation?.dispose();
    network?.full.dispose();
  }
}

/**
 * `lr auto`: the phase's rate searched from the weights it starts with (rate-search.ts: each step an
 * lrPoint event; the weights then put back), or, where the search suggests none, the rate the
 * script carries into the phase, with a warning.
 */
async function searchPhaseRate(
  net: Network, data: Dataset, plan: Plan, phase: Phase, p: number,
  o: { readonly backend: BackendChoice; readonly emit: (e: ExecutorEvent) => void; readonly warn: (m: string) => void; readonly signal?: AbortSignal },
): Promise<number> {
  const steps = phase.searchSteps;
  const search = await searchInPlace(net, data, plan, phase, {
    ...LR_SEARCH, steps, backend: o.backend, seed: plan.seed + p, warn: (m) => o.warn(`phase '${phase.name}': ${m}`),
    ...(o.signal && { signal: o.signal }),
    onPoint: (point, step) => o.emit({ type: 'lrPoint', at: now(), phase: p, name: phase.name, step, steps, ...point }),
  }).catch((err: unknown) => {
    // Cancelled mid-search: the weights are put back, and a resumed run searches again from its last checkpoint.
    if (o.signal?.aborted) throw new ExecutorError('cancelled', `cancelled while searching the rate of phase '${phase.name}'; a resumed run searches it again`, phase.origin, { cause: err });
    throw err;
  });
  const found = suggestedRate(search);
  if (found !== null) return found;
  o.warn(`phase '${phase.name}': the rate search suggested no rate (${search.diverged ? 'the loss diverged at once' : 'too few steps'}); training at ${phase.lr}`);
  return phase.lr;
}

/** Loads the target images and builds the adaptation hooks of the plan's `adapt` statement. */
async function prepareAdaptation(plan: Plan, net: Network, data: Dataset, rng: Rng, options: RunOptions, warn: (message: string) => void): Promise<Adaptation> {
  const adapt = plan.adapt!;
  const channels = net.base.model.inputs[0]!.shape[3] ?? 3;
  const target = await loadTarget(adapt, {
    baseDir: options.baseDir, imageSize: net.base.inputSize, channels, onCorrupt: options.onCorrupt ?? 'skip',
    warn, ...(options.signal && { signal: options.signal }),
  });
  return createAdaptation(adapt, {
    full: net.full, base: net.base.model, featureSize: net.head.inputs[0]!.shape[3]!, source: data.train, target,
    images: (set, idx) => imageBatch(set, idx, net.base.preprocess), planPhases: plan.phases.length, rng,
  });
}

/**
 * Precise BN: the BatchNorm layers training in this phase get statistics measured on the training
 * set. They all lie after the cached frontier (it stops at the first trainable layer), so the pass
 * runs on cached activations when there are some. When the phase trains on target rows too (an
 * adaptation loss term), its batches held both domains half and half, so the statistics are measured
 * on the same mix: source-only statistics would normalise both domains differently from training.
 */
async function recalibrateBatchNorm(net: Network, inputs: Inputs, count: number, targetCount: number): Promise<void> {
  const training = batchNormLayers(net.base.model).filter((l) => l.trainable);
  if (training.length === 0 || count === 0) return;
  const batch = targetCount === 0
    ? (idx: Int32Array) => inputs.batch('train', idx)
    : (idx: Int32Array) => tf.concat([inputs.batch('train', idx), inputs.batch('target', idx.map((i) => i % targetCount))]);
  writeBatchNorm(training, await measureBatchNorm(inputs.model, training, count, batch));
}
