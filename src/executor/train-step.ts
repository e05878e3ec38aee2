/** One optimisation step on a batch (with an adaptation term when the plan adapts), and its memory guard. */
import * as tf from '@tensorflow/tfjs';
import type { Clip, Phase, Plan } from '../plan/schema.ts';
import type { DualForward, StepTerm } from './adapt/index.ts';
import { augmentBatch, type Rng } from './augment/index.ts';
import { oneHot } from './batches.ts';
import { countStep } from './optimizers.ts';
import type { StepOutput, StepRunner } from './backends/steps.ts';
import type { ImageSet } from './data/index.ts';
import { ExecutorError } from './errors.ts';
import type { Inputs } from './inputs.ts';
import type { Network } from './network.ts';

export interface StepOptions {
  readonly model: tf.LayersModel;
  readonly idx: Int32Array;
  readonly optimizers: readonly { group: { variables: tf.Variable[] }; optimizer: tf.Optimizer }[];
  /** Each class's weight in the loss (`data ... balance`, class-weights.ts), or null: every image counts 1. */
  readonly classWeights?: tf.Tensor1D | null;
  /** An adaptation loss term: the source batch runs together with target rows. */
  readonly adapt: { term: StepTerm; forward: DualForward; progress: number } | null;
  /** The phase's gradient clipping (`clip norm|value X`), or null. */
  readonly clip?: Clip | null;
}

export interface BatchOptions {
  readonly inputs: Inputs;
  readonly set: ImageSet;
  readonly idx: Int32Array;
  readonly classes: number;
  readonly plan: Plan;
  readonly rng: Rng;
  readonly preprocess: Network['base']['preprocess'];
}

/**
 * Everything a step reads that changes from step to step, made before it: inputs `x` and one-hot
 * labels `y`, and where the step adapts, its target rows' inputs and its term's own values.
 */
export interface StepBatch {
  readonly x: tf.Tensor;
  readonly y: tf.Tensor2D;
  /** The target rows' inputs (null where the step does not adapt or draws no target rows) and the term's values. */
  readonly target: { readonly x: tf.Tensor | null; readonly values: readonly tf.Tensor[] } | null;
}

/** The batch a step trains on, augmented where the plan says, with what its adaptation term draws; the caller's to dispose (`batchTensors`). */
export function stepBatch({ inputs, set, idx, classes, plan, rng, preprocess }: BatchOptions, adapt: StepOptions['adapt'] = null): StepBatch {
  const source = tf.tidy(() => {
    const x = inputs.batch('train', idx);
    // Smoothed before any mixing: the two commute (both mix rows with weights summing to 1).
    const s = plan.labelSmoothing ?? 0; // plans stored before it have none
    const hot = oneHot(set.labels, idx, classes);
    const y = s > 0 ? (tf.add(tf.mul(hot, 1 - s), s / classes) as tf.Tensor2D) : hot;
    if (inputs.cachedAt !== null || plan.augment.length === 0) return { x, y };
    const lo = preprocess.offset[0]!;
    const hi = 255 * preprocess.scale[0]! + lo;
    return augmentBatch(x as tf.Tensor4D, y, plan.augment, rng, { range: [Math.min(lo, hi), Math.max(lo, hi)] });
  });
  if (adapt === null) return { ...source, target: null };
  const rows = adapt.term.targetRows(idx.length);
  return { ...source, target: { x: rows.length > 0 ? inputs.batch('target', rows) : null, values: adapt.term.values(rows, adapt.progress) } };
}

/** The tensors of a step's batch, in a fixed order (a recorded step's feeds). */
export function batchTensors({ x, y, target }: StepBatch): tf.Tensor[] {
  return [x, y, ...(target?.x ? [target.x] : []), ...(target?.values ?? [])];
}

/**
 * One optimisation step on `batch`, with an adaptation term when the plan adapts. Returns the
 * step's scalars in one tensor, so that one read fetches them all (on a GPU each read waits for the
 * queue): the classification loss on the source batch and its hits, then, where the step adapts,
 * the adaptation loss and the domain hits (0 where the term counts none), and last, where the step
 * clips by norm, the gradients' global norm before clipping.
 */
export function trainStep({ model, idx, optimizers, adapt, classWeights = null, clip = null }: StepOptions, { x, y, target }: StepBatch): tf.Tensor1D {
  let scalars: tf.Tensor1D | undefined;
  tf.tidy(() => {
    const targetCount = target?.x?.shape[0] ?? 0;
    const variables = optimizers.flatMap((o) => o.group.variables);
    // Kept past variableGrads' own scope for the metrics below, and disposed here.
    let predictions: tf.Tensor | undefined;
    let classLoss: tf.Scalar | undefined;
    const extras: tf.Scalar[] = [];
    const { grads: raw } = tf.variableGrads(() => {
      if (!adapt) {
        predictions = tf.keep(model.apply(x, { training: true }) as tf.Tensor);
        classLoss = tf.keep(crossEntropy(y, predictions, classWeights));
        return classLoss;
      }
      const both = target?.x ? tf.concat([x, target.x]) : x;
      const out = adapt.forward(both, true);
      predictions = tf.keep(out.predictions.slice([0, 0], [idx.length, -1]));
      classLoss = tf.keep(crossEntropy(y, predictions!, classWeights));
      const extra = adapt.term.loss({ ...out, sourceCount: idx.length, targetCount }, target?.values ?? []);
      extras.push(tf.keep(extra.loss.clone()), tf.keep(extra.domainHits?.clone() ?? tf.scalar(0)));
      return tf.add(classLoss, extra.loss) as tf.Scalar;
    }, variables);
    const { grads, norm } = clipGradients(raw, clip);
    for (const o of optimizers) {
      const subset: tf.NamedTensorMap = {};
      for (const v of o.group.variables) subset[v.name] = grads[v.name]!;
      o.optimizer.applyGradients(subset);
    }
    const hits = tf.sum(tf.equal(tf.argMax(predictions!, -1), tf.argMax(y, -1)).toFloat()) as tf.Scalar;
    scalars = tf.keep(tf.stack([classLoss!, hits, ...extras, ...(norm ? [norm] : [])]) as tf.Tensor1D);
    tf.dispose([predictions!, classLoss!, ...extras]);
  });
  return scalars!;
}

/**
 * The step's gradients clipped as the phase says. `norm`: all scaled by one factor, max / norm where
 * their global L2 norm is above max (PyTorch's clip_grad_norm_, with its 1e-6), so their direction is
 * kept; the norm before clipping is returned for the epoch's metrics. `value`: each value clamped.
 */
export function clipGradients(grads: tf.NamedTensorMap, clip: Clip | null): { grads: tf.NamedTensorMap; norm: tf.Scalar | null } {
  if (clip === null) return { grads, norm: null };
  const out: tf.NamedTensorMap = {};
  if (clip.mode === 'value') {
    for (const [name, g] of Object.entries(grads)) out[name] = tf.clipByValue(g, -clip.max, clip.max);
    return { grads: out, norm: null };
  }
  const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
  const factor = tf.minimum(tf.div(clip.max, tf.add(norm, 1e-6)), 1);
  for (const [name, g] of Object.entries(grads)) out[name] = tf.mul(g, factor);
  return { grads: out, norm };
}

/**
 * The batch's mean cross-entropy, each row weighted by its target's class weight where given (a
 * mixed or smoothed target weighs its classes' weights by its own shares).
 */
function crossEntropy(y: tf.Tensor, predictions: tf.Tensor, classWeights: tf.Tensor1D | null): tf.Scalar {
  const rows = tf.metrics.categoricalCrossentropy(y, predictions);
  return (classWeights === null ? tf.mean(rows) : tf.mean(tf.mul(rows, tf.sum(tf.mul(y, classWeights), -1)))) as tf.Scalar;
}

/**
 * One step as `tl run` takes it: the batch made (and augmented, and its target rows drawn), then
 * the step run by `steps`. Where `repeats` (a full batch, like the steps before and after it), the
 * runner may record and replay it (backends/steps.ts), keyed by its batch's shapes; a step that
 * does not repeat runs as it is. Returns the step's output, to read later, and the rows its domain
 * hits counted.
 */
export function runStep(steps: StepRunner, repeats: boolean, step: BatchOptions & StepOptions): { output: StepOutput; domainRows: number } {
  const batch = stepBatch(step, step.adapt);
  const feeds = batchTensors(batch);
  try {
    const output = steps.run(
      repeats ? feeds.map((t) => t.shape.join('x')).join(' ') : null,
      feeds,
      () => trainStep(step, batch),
      () => step.optimizers.forEach((o) => countStep(o.optimizer)),
    );
    const domainRows = step.adapt?.term.domainHits ? step.idx.length + (batch.target?.x?.shape[0] ?? 0) : 0;
    return { output, domainRows };
  } finally {
    tf.dispose(feeds);
  }
}

/**
 * The wasm backend's heap stops at 4 GB; when a step needs more, emscripten aborts with a bare
 * RuntimeError. Say what ran out and what to change instead.
 */
export function guardMemory<T>(backend: string, phase: Phase, step: () => T): T {
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
