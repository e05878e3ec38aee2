/**
 * A phase made ready to take steps, as a training run and a learning-rate search both need it: its
 * layers set trainable and its variables grouped by rate, its inputs (the frozen prefix's
 * activations cached where they fit), one optimizer per rate group, the classes' weights in the
 * loss where the data says `balance`, activations fused into the layers before them, the step
 * runner, and the backend's products tuned. `close()` gives back all of it; a failure while
 * opening gives back what was made.
 *
 * @example
 * const open = await openPhase(net, data, plan, phase, { backend, lr: phase.lr, cacheBytes: CACHE_BYTES, warn });
 * try { open.setRate(1e-3); runStep(open.steps, true, { model: open.model, inputs: open.inputs, optimizers: open.optimizers, ... }); }
 * finally { open.close(); }
 */
import * as tf from '@tensorflow/tfjs';
import type { Phase, Plan } from '../plan/schema.ts';
import { prepareForTraining, stepRunner, type BackendChoice, type Prepared } from './backends/select.ts';
import type { StepRunner } from './backends/steps.ts';
import { EVAL_BATCH, evaluationPass } from './batches.ts';
import { balancedWeights } from './class-weights.ts';
import type { Dataset, ImageSet } from './data/index.ts';
import { fuseActivationsForTraining } from './fold-batchnorm.ts';
import { prepareInputs, type Inputs } from './inputs.ts';
import type { Network } from './network.ts';
import { createOptimizer, setLearningRate } from './optimizers.ts';
import { applyPhase, type PhaseVariables, type VariableGroup } from './trainable.ts';

export interface OpenPhaseOptions {
  readonly backend: BackendChoice;
  /** The rate the optimizers start at; each group's is this times its factor. */
  readonly lr: number;
  /** The most bytes of frozen-prefix activations to cache (0: none). */
  readonly cacheBytes: number;
  /** Unlabelled target images the steps read beside the training set (an adaptation's). */
  readonly target?: ImageSet | null;
  /** Variables beside the network's that train in this phase, and their rate factor (an adaptation's own). */
  readonly extra?: VariableGroup | null;
  /**
   * Runs once the phase's layers are set trainable and before the frozen prefix's activations are
   * cached, for what changes the weights they are computed from (AdaBN's statistics).
   */
  readonly beforeInputs?: () => Promise<void>;
  /** Also tune the products of the validation pass (webgpu). */
  readonly validates?: boolean;
  /** Told what opening went on past: activations not cached, tiles not measured. */
  readonly warn: (message: string) => void;
}

export interface OpenPhase {
  /** The phase's variables by rate factor, and its count of trainable parameters. */
  readonly vars: PhaseVariables;
  readonly inputs: Inputs;
  /** What the steps train: the whole network, or the part after the cached prefix. */
  readonly model: tf.LayersModel;
  /** One per rate group, the adaptation's last where it has variables. */
  readonly optimizers: readonly { readonly group: VariableGroup; readonly optimizer: tf.Optimizer }[];
  readonly steps: StepRunner;
  /** Each class's weight in the loss where the data says `balance`, else null. */
  readonly classWeights: tf.Tensor1D | null;
  readonly tiles: Prepared['tiles'];
  /** Sets every optimizer's rate to `lr` times its group's factor. */
  setRate(lr: number): void;
  close(): void;
}

export async function openPhase(net: Network, data: Dataset, plan: Plan, phase: Phase, options: OpenPhaseOptions): Promise<OpenPhase> {
  const vars = applyPhase(net, phase);
  await options.beforeInputs?.();
  const inputs = await prepareInputs(net, data, plan, net.base.preprocess, { cacheBytes: options.cacheBytes, target: options.target ?? null, warn: options.warn });
  const groups = options.extra && options.extra.variables.length > 0 ? [...vars.groups, options.extra] : vars.groups;
  const optimizers = groups.map((group) => ({ group, optimizer: createOptimizer(phase.optimizer, options.lr * group.factor) }));
  const model = inputs.model;
  // Where the backend can (webgpu, wasm), each BatchNorm applies the ReLU after it itself; on
  // webgpu zero paddings are read by the convolution after them instead of written.
  const fused = fuseActivationsForTraining(model, { padsIntoConvolutions: options.backend.name === 'webgpu' });
  const classWeights = plan.data?.balance ? tf.tensor1d(balancedWeights(data.train, data.classes.length)) : null;
  let steps: StepRunner | undefined;
  const close = () => {
    classWeights?.dispose();
    steps?.dispose();
    fused.restore();
    inputs.dispose();
    for (const o of optimizers) o.optimizer.dispose();
  };
  try {
    steps = await stepRunner(options.backend.name);
    // The validation runs the same model folded, at EVAL_BATCH: its products are tuned too.
    const evaluation = options.validates && data.val.count > 0 ? evaluationPass(model, Math.min(EVAL_BATCH, data.val.count)) : undefined;
    const prepared = await prepareForTraining(options.backend, model, phase.batch, evaluation);
    if (prepared.warning !== null) options.warn(prepared.warning);
    return {
      vars, inputs, model, optimizers, steps, classWeights, tiles: prepared.tiles, close,
      setRate: (lr) => {
        for (const o of optimizers) setLearningRate(o.optimizer, lr * o.group.factor);
      },
    };
  } catch (err) {
    close();
    throw err;
  }
}
