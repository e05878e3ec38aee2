/** One optimisation step on a batch (with an adaptation term when the plan adapts), and its memory guard. */
import * as tf from '@tensorflow/tfjs';
import type { Phase, Plan } from '../plan/schema.ts';
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
  readonly inputs: Inputs;
  readonly idx: Int32Array;
  readonly optimizers: readonly { group: { variables: tf.Variable[] }; optimizer: tf.Optimizer }[];
  /** An adaptation loss term: the source batch runs together with target rows. */
  readonly adapt: { term: StepTerm; forward: DualForward; progress: number } | null;
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

/** The batch a step trains on, augmented where the plan says: inputs `x` and one-hot labels `y`, the caller's to dispose. */
export function stepBatch({ inputs, set, idx, classes, plan, rng, preprocess }: BatchOptions): { x: tf.Tensor; y: tf.Tensor2D } {
  return tf.tidy(() => {
    const x = inputs.batch('train', idx);
    const y = oneHot(set.labels, idx, classes);
    if (inputs.cachedAt !== null || plan.augment.length === 0) return { x, y };
    const lo = preprocess.offset[0]!;
    const hi = 255 * preprocess.scale[0]! + lo;
    return augmentBatch(x as tf.Tensor4D, y, plan.augment, rng, { range: [Math.min(lo, hi), Math.max(lo, hi)] });
  });
}

export interface StepResult {
  /**
   * The step's scalars in one tensor, so that one read fetches them all (on a GPU each read waits
   * for the queue): the classification loss on the source batch and its hits, then, where the step
   * adapts, the adaptation loss and the domain hits (0 where the term has none).
   */
  readonly scalars: tf.Tensor1D;
  /** Whether the term counted domain hits, and over how many rows. */
  readonly domainRows: number;
}

/** One optimisation step on (x, y), with an adaptation term when the plan adapts. */
export function trainStep({ model, inputs, idx, optimizers, adapt }: StepOptions, x: tf.Tensor, y: tf.Tensor2D): StepResult {
  let result: StepResult | undefined;
  tf.tidy(() => {
    const rows = adapt ? adapt.term.targetRows(idx.length) : new Int32Array(0);
    const variables = optimizers.flatMap((o) => o.group.variables);
    // Kept past variableGrads' own scope for the metrics below, and disposed here.
    let predictions: tf.Tensor | undefined;
    let classLoss: tf.Scalar | undefined;
    const extras: tf.Scalar[] = [];
    let domainHits = false;
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
      domainHits = extra.domainHits !== undefined && extra.domainHits !== null;
      extras.push(tf.keep(extra.loss.clone()), tf.keep(domainHits ? extra.domainHits!.clone() : tf.scalar(0)));
      return tf.add(classLoss, extra.loss) as tf.Scalar;
    }, variables);
    for (const o of optimizers) {
      const subset: tf.NamedTensorMap = {};
      for (const v of o.group.variables) subset[v.name] = grads[v.name]!;
      o.optimizer.applyGradients(subset);
    }
    const hits = tf.sum(tf.equal(tf.argMax(predictions!, -1), tf.argMax(y, -1)).toFloat()) as tf.Scalar;
    result = { scalars: tf.keep(tf.stack([classLoss!, hits, ...extras]) as tf.Tensor1D), domainRows: domainHits ? idx.length + rows.length : 0 };
    tf.dispose([predictions!, classLoss!, ...extras]);
  });
  return result!;
}

/**
 * One step as `tl run` takes it: the batch made (and augmented), then the step run by `steps`, which
 * may replay it (a step of `key`; backends/steps.ts). Returns the step's output, to read later, and
 * the rows its domain hits counted.
 */
export function runStep(steps: StepRunner, key: string | null, step: BatchOptions & StepOptions): { output: StepOutput; domainRows: number } {
  const { x, y } = stepBatch(step);
  let domainRows = 0;
  try {
    const output = steps.run(
      key,
      [x, y],
      () => {
        const result = trainStep(step, x, y);
        domainRows = result.domainRows;
        return result.scalars;
      },
      () => step.optimizers.forEach((o) => countStep(o.optimizer)),
    );
    return { output, domainRows };
  } finally {
    tf.dispose([x, y]);
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
