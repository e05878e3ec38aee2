/**
 * The executor: plan in, trained and exported model out, typed events on the way.
 *
 * @example
 * const result = await runPlan(plan, { baseDir: 'examples', runDir: 'runs/x', onEvent: (e) => console.log(e.type) });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Phase, Plan } from '../plan/schema.ts';
import { createAdaptation, dualForward, loadTarget, type Adaptation, type DualForward, type PhaseContext, type StepTerm } from './adapt/index.ts';
import { createRng, augmentBatch, type Rng } from './augment/index.ts';
import { selectBackend, type BackendName } from './backends/select.ts';
import { imageBatch, oneHot, predictAll, range } from './batches.ts';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { loadDataset, type Dataset, type ImageSet } from './data/index.ts';
import { ExecutorError } from './errors.ts';
import { now, type EpochMetrics, type ExecutorEvent, type FinalMetrics } from './events.ts';
import { argmaxRows, confusion, perClass, topK } from './metrics.ts';
import { assemble, type Network } from './network.ts';
import { createOptimizer, setLearningRate } from './optimizers.ts';
import { learningRateAt } from './schedule.ts';
import { applyPhase } from './trainable.ts';
import { frozenFrontier, splitAt } from './frontier.ts';
import { reseed } from './seed.ts';
import { batchNormLayers, measureBatchNorm, writeBatchNorm } from './adapt/batch-norm-stats.ts';
import { buildBase, saveToDirectory } from './zoo/index.ts';

export interface RunOptions {
  /** Relative paths in the plan resolve against this folder (the script's). */
  readonly baseDir: string;
  /** Checkpoints go here. */
  readonly runDir: string;
  readonly onEvent: (event: ExecutorEvent) => void;
  readonly backend?: BackendName;
  readonly signal?: AbortSignal;
  readonly resume?: boolean;
  readonly cacheDir?: string;
  readonly onCorrupt?: 'skip' | 'stop';
  readonly warn?: (message: string) => void;
  /** Run frozen prefixes once per phase and train on their cached activations (default true; off for benchmarks). */
  readonly cacheFrozenPrefix?: boolean;
  /** Minimum milliseconds between batchProgress events. */
  readonly progressEveryMs?: number;
}

export interface RunResult {
  readonly metrics: FinalMetrics;
  readonly exportPath: string | null;
}

type SetName = 'train' | 'val' | 'target';

interface Inputs {
  /** What `model` takes for these rows: preprocessed images, or cached activations. */
  batch(set: SetName, indices: Int32Array): tf.Tensor;
  readonly model: tf.LayersModel;
  /** The layer whose activations are cached, or null when batches are images. */
  readonly cachedAt: string | null;
  dispose(): void;
}

export async function runPlan(plan: Plan, options: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const emit = options.onEvent;
  const path = (p: string) => (isAbsolute(p) ? p : resolve(options.baseDir, p));
  let adaptation: Adaptation | null = null;
  try {
    if (!plan.data) throw new ExecutorError('missing-data', "the script has no 'data' statement; add one, e.g. data \"images/\" split 0.2", plan.model.origin);
    const backend = await selectBackend(options.backend ?? 'auto');
    const base = await wrap('model-load', plan.model.origin, () =>
      buildBase(plan.model, { baseDir: options.baseDir, ...(options.cacheDir && { cacheDir: options.cacheDir }) }),
    );
    const data = await wrap('data-load', plan.data.origin, () =>
      loadDataset(plan.data!, { baseDir: options.baseDir, imageSize: base.inputSize, seed: plan.seed, onCorrupt: options.onCorrupt ?? 'skip', ...(options.warn && { warn: options.warn }), ...(options.signal && { signal: options.signal }) }),
    );
    const classes = data.classes;
    if (plan.model.weights.kind === 'none') reseed(base.model, plan.seed);
    const net = assemble(base, plan, classes.length);
    const rng = createRng(plan.seed);
    adaptation = plan.adapt && (await prepareAdaptation(plan, net, data, rng, options));
    const phases: readonly Phase[] = [...plan.phases, ...(adaptation?.extraPhases(plan.phases.at(-1)!) ?? [])];
    emit({
      type: 'jobStarted', at: now(), backend: backend.name, backendReason: backend.reason, model: base.name, classes,
      trainImages: data.train.count, valImages: data.val.count, phases: phases.map((p) => ({ name: p.name, epochs: p.epochs })),
    });
    const hookContext: PhaseContext = {
      classes: classes.length,
      predictTarget: async () => (await predictAll(adaptation!.target.count, 64, (idx) => imageBatch(adaptation!.target, idx, base.preprocess), net.full)).data,
    };

    const checkpointDir = join(options.runDir, 'checkpoint');
    let resumeAt = { phase: 0, epochsDone: 0 };
    if (options.resume) {
      const state = await loadCheckpoint(net.full, checkpointDir);
      if (!state) throw new ExecutorError('no-checkpoint', `nothing to resume: no checkpoint in ${checkpointDir}`);
      resumeAt = state;
    }

    const totalEpochs = phases.reduce((a, p) => a + p.epochs, 0);
    let epochsDoneOverall = phases.slice(0, resumeAt.phase).reduce((a, p) => a + p.epochs, 0) + resumeAt.epochsDone;
    let last: EpochMetrics | null = null;

    for (let p = resumeAt.phase; p < phases.length; p++) {
      const phase = phases[p]!;
      const firstEpoch = p === resumeAt.phase ? resumeAt.epochsDone : 0;
      if (phase.epochs === 0 || firstEpoch >= phase.epochs) continue;
      const vars = applyPhase(net, phase);
      await adaptation?.beforePhase(p, hookContext);
      const inputs = await prepareInputs(net, data, plan, base.preprocess, options.cacheFrozenPrefix ?? true, adaptation?.target ?? null);
      emit({ type: 'phaseStarted', at: now(), phase: p, name: phase.name, epochs: phase.epochs, trainable: phase.trainable, trainableParams: vars.trainableParams, lr: phase.lr, cachedFeatures: inputs.cachedAt !== null, cachedAt: inputs.cachedAt });
      const groups = adaptation?.variables.length ? [...vars.groups, { factor: phase.lrMultipliers?.['head'] ?? 1, variables: [...adaptation.variables] }] : vars.groups;
      const optimizers = groups.map((g) => ({ group: g, optimizer: createOptimizer(phase.optimizer, phase.lr * g.factor) }));
      const model = inputs.model;
      const term = adaptation?.term(p) ?? null;
      const adapt = term && { term, forward: dualForward(model, net.head) };
      const stop = earlyStopper(plan);
      let epochsRun = 0;

      for (let epoch = firstEpoch; epoch < phase.epochs; epoch++) {
        const t0 = performance.now();
        const order = shuffled(data.train.count, rng);
        const batches = Math.ceil(order.length / phase.batch);
        let lossSum = 0;
        let correct = 0;
        let lastProgress = 0;
        const extra = { loss: 0, domainHits: 0, domainRows: 0 };
        for (let b = 0; b < batches; b++) {
          if (options.signal?.aborted) {
            const saved = await saveCheckpoint(net.full, checkpointDir, { phase: p, epochsDone: epoch, savedAt: now() });
            emit({ type: 'checkpointSaved', at: now(), phase: p, epoch, path: saved, reason: 'cancel' });
            throw new ExecutorError('cancelled', `cancelled in phase '${phase.name}', epoch ${epoch + 1}; resume with --resume`);
          }
          const idx = order.subarray(b * phase.batch, Math.min(order.length, (b + 1) * phase.batch));
          const lr = learningRateAt(phase, epoch, b / batches);
          for (const o of optimizers) setLearningRate(o.optimizer, lr * o.group.factor);
          const progress = (epochsDoneOverall + b / batches) / Math.max(1, totalEpochs);
          const step = guardMemory(backend.name, phase, () =>
            trainStep({ model, inputs, set: data.train, idx, classes: classes.length, optimizers, plan, rng, preprocess: base.preprocess, adapt: adapt && { ...adapt, progress } }),
          );
          lossSum += (await step.loss.data())[0]! * idx.length;
          correct += (await step.hits.data())[0]!;
          if (step.adaptLoss) extra.loss += (await step.adaptLoss.data())[0]! * idx.length;
          if (step.domainHits) {
            extra.domainHits += (await step.domainHits.data())[0]!;
            extra.domainRows += step.domainRows;
          }
          tf.dispose([step.loss, step.hits, step.adaptLoss, step.domainHits].filter((t): t is tf.Scalar => t !== null));
          const t = performance.now();
          if (t - lastProgress > (options.progressEveryMs ?? 250) || b === batches - 1) {
            lastProgress = t;
            emit({ type: 'batchProgress', at: now(), phase: p, epoch: epoch + 1, batch: b + 1, batches, loss: lossSum / ((b * phase.batch) + idx.length), lr });
          }
        }
        const val = data.val.count > 0 ? await evaluate(model, inputs, data.val, 'val', classes.length) : null;
        const seconds = (performance.now() - t0) / 1000;
        last = {
          loss: lossSum / data.train.count, accuracy: correct / data.train.count,
          valLoss: val?.loss ?? null, valAccuracy: val?.accuracy ?? null, valTop5: val?.top5 ?? null,
          ...(adaptation && {
            adaptLoss: term ? extra.loss / data.train.count : null,
            domainAccuracy: extra.domainRows > 0 ? extra.domainHits / extra.domainRows : null,
            pseudoLabels: adaptation.pseudoLabels(),
          }),
        };
        epochsRun++;
        epochsDoneOverall++;
        emit({ type: 'epochEnded', at: now(), phase: p, epoch: epoch + 1, epochs: phase.epochs, metrics: last, imagesPerSecond: data.train.count / seconds, seconds, etaSeconds: seconds * (totalEpochs - epochsDoneOverall) });

        const improved = stop.observe(last, net.full);
        const cp = plan.checkpoint;
        if (cp && ((cp.kind === 'best' && improved) || (cp.kind === 'every' && (epoch + 1) % cp.epochs === 0))) {
          const saved = await saveCheckpoint(net.full, checkpointDir, { phase: p, epochsDone: epoch + 1, savedAt: now() });
          emit({ type: 'checkpointSaved', at: now(), phase: p, epoch: epoch + 1, path: saved, reason: cp.kind });
        }
        if (stop.shouldStop()) break;
      }
      const stoppedEarly = epochsRun < phase.epochs - firstEpoch;
      const best = stop.finish(net.full);
      if (plan.batchNorm.recalibrate === 'after-phase') await recalibrateBatchNorm(net, data.train);
      await adaptation?.afterPhase(p, hookContext);
      emit({ type: 'phaseEnded', at: now(), phase: p, name: phase.name, epochsRun, stoppedEarly, best });
      inputs.dispose();
      for (const o of optimizers) o.optimizer.dispose();
    }

    await adaptation?.afterTraining(hookContext);
    const metrics = await finalMetrics(net, data, plan, options, classes, last);
    let exportPath: string | null = null;
    if (plan.export) {
      exportPath = path(plan.export.path);
      await exportModel(net, exportPath, plan, classes);
    }
    const seconds = (performance.now() - started) / 1000;
    adaptation?.dispose();
    emit({ type: 'jobFinished', at: now(), metrics, exportPath, seconds });
    return { metrics, exportPath };
  } catch (err) {
    adaptation?.dispose();
    const e = err instanceof ExecutorError ? err : new ExecutorError('internal', (err as Error).message ?? String(err), null, { cause: err });
    const code = (err as { code?: string }).code;
    emit({ type: 'jobFailed', at: now(), code: typeof code === 'string' ? code : e.code, message: e.message, origin: e.origin, cancelled: e.code === 'cancelled' });
    throw e;
  }
}

/** Loads the target images and builds the adaptation hooks of the plan's `adapt` statement. */
async function prepareAdaptation(plan: Plan, net: Network, data: Dataset, rng: Rng, options: RunOptions): Promise<Adaptation> {
  const adapt = plan.adapt!;
  const channels = net.base.model.inputs[0]!.shape[3] ?? 3;
  const target = await loadTarget(adapt, {
    baseDir: options.baseDir, imageSize: net.base.inputSize, channels, onCorrupt: options.onCorrupt ?? 'skip',
    ...(options.warn && { warn: options.warn }), ...(options.signal && { signal: options.signal }),
  });
  return createAdaptation(adapt, {
    full: net.full, base: net.base.model, featureSize: net.head.inputs[0]!.shape[3]!, source: data.train, target,
    images: (set, idx) => imageBatch(set, idx, net.base.preprocess), planPhases: plan.phases.length, rng,
  });
}

/** Precise BN: the BatchNorm layers that trained in this phase get statistics measured on the training images. */
async function recalibrateBatchNorm(net: Network, train: ImageSet): Promise<void> {
  const trained = batchNormLayers(net.base.model).filter((l) => l.trainable);
  if (trained.length === 0 || train.count === 0) return;
  const stats = await measureBatchNorm(net.full, trained, train.count, (idx) => imageBatch(train, idx, net.base.preprocess));
  writeBatchNorm(trained, stats);
}

/**
 * The wasm backend's heap stops at 4 GB; when a step needs more, emscripten aborts with a bare
 * RuntimeError. Say what ran out and what to change instead.
 */
function guardMemory<T>(backend: string, phase: Phase, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError || /memory access out of bounds|Aborted\(/.test((err as Error).message)) {
      throw new ExecutorError(
        'out-of-memory',
        `the ${backend} backend ran out of memory training phase '${phase.name}' at batch ${phase.batch} (its heap stops at 4 GB); lower 'batch' (e.g. batch ${Math.max(1, Math.floor(phase.batch / 4))}) or 'input', or use a GPU backend`,
        phase.origin,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Runs a loading step, turning its failure into an ExecutorError that points at the statement. */
async function wrap<T>(code: string, origin: Plan['model']['origin'] | null, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const inner = (err as { code?: string }).code;
    throw new ExecutorError(typeof inner === 'string' ? inner : code, (err as Error).message, origin, { cause: err });
  }
}

function shuffled(n: number, rng: Rng): Int32Array {
  const a = range(n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * Inputs for one phase's training. Without augmentation, the frozen prefix up to the phase's frozen
 * frontier runs once per phase and the rest trains on its cached activations; otherwise every batch
 * runs the whole network.
 */
async function prepareInputs(
  net: Network, data: Dataset, plan: Plan, preprocess: Network['base']['preprocess'], cache: boolean, target: ImageSet | null,
): Promise<Inputs> {
  const sets = { train: data.train, val: data.val, target };
  const images = (set: SetName, idx: Int32Array) => imageBatch(sets[set]!, idx, preprocess);
  const frontier = cache && plan.augment.length === 0 ? frozenFrontier(net) : null;
  if (!frontier) return { batch: images, model: net.full, cachedAt: null, dispose() {} };
  const split = splitAt(net, frontier);
  const features = async (set: ImageSet | null, name: SetName) => {
    if (!set || set.count === 0) return null;
    const { data: values } = await predictAll(set.count, 32, (idx) => images(name, idx), split.prefix);
    const shape = split.prefix.outputs[0]!.shape.slice(1) as number[];
    return tf.tensor(values, [set.count, ...shape]);
  };
  // Target images go through the same cached prefix, so adaptation terms compare both domains at one layer.
  const cached = { train: await features(data.train, 'train'), val: await features(data.val, 'val'), target: await features(target, 'target') };
  return {
    model: split.trainer,
    cachedAt: frontier,
    batch: (set, idx) => tf.tidy(() => tf.gather(cached[set]!, tf.tensor1d(idx, 'int32'))),
    dispose: () => tf.dispose(Object.values(cached).filter((t): t is tf.Tensor => t !== null)),
  };
}

interface StepOptions {
  readonly model: tf.LayersModel;
  readonly inputs: Inputs;
  readonly set: ImageSet;
  readonly idx: Int32Array;
  readonly classes: number;
  readonly optimizers: readonly { group: { variables: tf.Variable[] }; optimizer: tf.Optimizer }[];
  readonly plan: Plan;
  readonly rng: Rng;
  readonly preprocess: Network['base']['preprocess'];
  /** An adaptation loss term: the source batch runs together with target rows. */
  readonly adapt: { term: StepTerm; forward: DualForward; progress: number } | null;
}

interface StepResult {
  /** Classification loss on the source batch. */
  readonly loss: tf.Scalar;
  readonly hits: tf.Scalar;
  readonly adaptLoss: tf.Scalar | null;
  readonly domainHits: tf.Scalar | null;
  readonly domainRows: number;
}

function trainStep({ model, inputs, set, idx, classes, optimizers, plan, rng, preprocess, adapt }: StepOptions): StepResult {
  let result: StepResult | undefined;
  tf.tidy(() => {
    let x = inputs.batch('train', idx);
    let y = oneHot(set.labels, idx, classes);
    if (inputs.cachedAt === null && plan.augment.length > 0) {
      const lo = preprocess.offset[0]!;
      const hi = 255 * preprocess.scale[0]! + lo;
      ({ x, y } = augmentBatch(x as tf.Tensor4D, y, plan.augment, rng, { range: [Math.min(lo, hi), Math.max(lo, hi)] }));
    }
    const rows = adapt ? adapt.term.targetRows(idx.length) : new Int32Array(0);
    const variables = optimizers.flatMap((o) => o.group.variables);
    // Kept past variableGrads' own scope for the metrics below; disposed by the caller or here.
    let predictions: tf.Tensor | undefined;
    let classLoss: tf.Scalar | undefined;
    const extras: { adaptLoss: tf.Scalar | null; domainHits: tf.Scalar | null } = { adaptLoss: null, domainHits: null };
    const { grads } = tf.variableGrads(() => {
      if (!adapt) {
        predictions = tf.keep(model.apply(x, { training: true }) as tf.Tensor);
        classLoss = tf.keep(tf.mean(tf.metrics.categoricalCrossentropy(y, predictions)) as tf.Scalar);
        return classLoss;
      }
      const both = rows.length > 0 ? tf.concat([x, inputs.batch('target', rows)]) : x;
      const out = adapt.forward(both, true);
      predictions = tf.keep(out.predictions.slice([0, 0], [idx.length, -1]));
      classLoss = tf.keep(tf.mean(tf.metrics.categoricalCrossentropy(y, predictions)) as tf.Scalar);
      const extra = adapt.term.loss({ ...out, sourceCount: idx.length, targetRows: rows, progress: adapt.progress });
      extras.adaptLoss = tf.keep(extra.loss.clone());
      if (extra.domainHits) extras.domainHits = tf.keep(extra.domainHits.clone());
      return tf.add(classLoss, extra.loss) as tf.Scalar;
    }, variables);
    for (const o of optimizers) {
      const subset: tf.NamedTensorMap = {};
      for (const v of o.group.variables) subset[v.name] = grads[v.name]!;
      o.optimizer.applyGradients(subset);
    }
    const hits = tf.sum(tf.equal(tf.argMax(predictions!, -1), tf.argMax(y, -1)).toFloat()) as tf.Scalar;
    predictions!.dispose();
    result = { loss: classLoss!, hits: tf.keep(hits), ...extras, domainRows: extras.domainHits ? idx.length + rows.length : 0 };
  });
  return result!;
}

async function evaluate(model: tf.LayersModel, inputs: Inputs, set: ImageSet, name: 'train' | 'val', classes: number) {
  const { data } = await predictAll(set.count, 64, (idx) => inputs.batch(name, idx), model);
  return scoreSet(data, set.labels, classes);
}

function scoreSet(scores: Float32Array, labels: Int32Array, classes: number) {
  let loss = 0;
  for (let i = 0; i < labels.length; i++) loss -= Math.log(Math.max(scores[i * classes + labels[i]!]!, 1e-7));
  const predicted = argmaxRows(scores, classes);
  const accuracy = predicted.reduce((a, p, i) => a + (p === labels[i] ? 1 : 0), 0) / Math.max(1, labels.length);
  return { loss: loss / Math.max(1, labels.length), accuracy, top5: classes > 5 ? topK(scores, classes, labels, 5) : null, predicted };
}

/** Early stopping per phase: tracks the monitored metric and keeps the best weights to restore. */
function earlyStopper(plan: Plan) {
  const es = plan.earlyStop;
  const monitor = es?.monitor ?? plan.checkpoint?.kind === 'best' ? (plan.checkpoint as { monitor: string }).monitor : 'val_loss';
  let best: { score: number; metrics: EpochMetrics; weights: tf.Tensor[] | null } | null = null;
  let waited = 0;
  const scoreOf = (m: EpochMetrics) => {
    if (monitor === 'val_accuracy') return -(m.valAccuracy ?? m.accuracy);
    return m.valLoss ?? m.loss;
  };
  return {
    observe(m: EpochMetrics, model: tf.LayersModel): boolean {
      const score = scoreOf(m);
      if (best && score >= best.score) {
        waited++;
        return false;
      }
      if (best?.weights) tf.dispose(best.weights);
      best = { score, metrics: m, weights: es?.restoreBest ? model.getWeights().map((w) => tf.keep(w.clone())) : null };
      waited = 0;
      return true;
    },
    shouldStop: () => es !== null && waited >= es.patience,
    finish(model: tf.LayersModel): EpochMetrics | null {
      if (!best) return null;
      if (best.weights) {
        model.setWeights(best.weights);
        tf.dispose(best.weights);
      }
      const m = best.metrics;
      best = null;
      return m;
    },
  };
}

async function finalMetrics(net: Network, data: Dataset, plan: Plan, options: RunOptions, classes: string[], last: EpochMetrics | null): Promise<FinalMetrics> {
  const full: Inputs = { batch: (set, idx) => imageBatch(set === 'train' ? data.train : data.val, idx, net.base.preprocess), model: net.full, cachedAt: null, dispose() {} };
  const val = data.val.count > 0 ? await evaluate(net.full, full, data.val, 'val', classes.length) : null;
  let test: ReturnType<typeof scoreSet> | null = null;
  let testLabels: Int32Array | null = null;
  if (plan.evaluate) {
    const set = await wrap('data-load', plan.evaluate.origin, () =>
      loadDataset({ format: 'folder', path: plan.evaluate!.path, split: 0, val: null, origin: plan.evaluate!.origin }, { baseDir: options.baseDir, imageSize: net.base.inputSize, seed: plan.seed, onCorrupt: options.onCorrupt ?? 'skip' }),
    );
    const remap = set.classes.map((c) => classes.indexOf(c));
    const missing = set.classes.filter((_, i) => remap[i]! < 0);
    if (missing.length) throw new ExecutorError('unknown-label', `evaluate set has classes the training data lacks: ${missing.join(', ')}`, plan.evaluate.origin);
    testLabels = set.train.labels.map((l) => remap[l]!);
    const { data: scores } = await predictAll(set.train.count, 64, (idx) => imageBatch(set.train, idx, net.base.preprocess), net.full);
    test = scoreSet(scores, testLabels, classes.length);
  }
  const basis = test && testLabels ? { predicted: test.predicted, labels: testLabels } : val ? { predicted: val.predicted, labels: data.val.labels } : null;
  const c = basis ? confusion(classes, basis.labels, basis.predicted) : confusion(classes, [], []);
  return {
    loss: last?.loss ?? Number.NaN,
    accuracy: last?.accuracy ?? Number.NaN,
    valLoss: val?.loss ?? null,
    valAccuracy: val?.accuracy ?? null,
    valTop5: val?.top5 ?? null,
    testAccuracy: test?.accuracy ?? null,
    testTop5: test?.top5 ?? null,
    perClass: perClass(c),
    confusion: c.matrix,
    classes,
  };
}

async function exportModel(net: Network, dir: string, plan: Plan, classes: string[]): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  await net.full.save(saveToDirectory(dir));
  await writeFile(join(dir, 'labels.json'), `${JSON.stringify(classes, null, 2)}\n`);
  await writeFile(join(dir, 'plan.json'), `${JSON.stringify(plan, null, 2)}\n`);
  await writeFile(join(dir, 'preprocess.json'), `${JSON.stringify({ inputSize: net.base.inputSize, ...net.base.preprocess }, null, 2)}\n`);
}
