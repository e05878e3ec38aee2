/** One optimisation step on a batch (with an adaptation term when the plan adapts), and its memory guard. */
import * as tf from '@tensorflow/tfjs';
import type { Phase, Plan } from '../plan/schema.ts';
import type { DualForward, StepTerm } from './adapt/index.ts';
import { augmentBatch, type Rng } from './augment/index.ts';
import { oneHot } from './batches.ts';
import type { ImageSet } from './data/index.ts';
import { ExecutorError } from './errors.ts';
import type { Inputs } from './inputs.ts';
import type { Network } from './network.ts';

export interface StepOptions {
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

export interface StepResult {
  /** Classification loss on the source batch. */
  readonly loss: tf.Scalar;
  readonly hits: tf.Scalar;
  readonly adaptLoss: tf.Scalar | null;
  readonly domainHits: tf.Scalar | null;
  readonly domainRows: number;
}

export function trainStep({ model, inputs, set, idx, classes, optimizers, plan, rng, preprocess, adapt }: StepOptions): StepResult {
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

/**
 * The values of a step's scalars in one read-back (a null reads as 0), then the scalars disposed:
 * on a GPU each read-back waits for the queue, so one instead of up to four.
 */
export async function readScalars(scalars: readonly (tf.Scalar | null)[]): Promise<number[]> {
  const present = scalars.filter((t): t is tf.Scalar => t !== null);
  const packed = tf.stack(present);
  const values = await packed.data();
  tf.dispose([packed, ...present]);
  let next = 0;
  return scalars.map((t) => (t === null ? 0 : values[next++]!));
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
