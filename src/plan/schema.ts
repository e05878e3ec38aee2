/**
 * The training plan: the compiler's output and the executor's only input.
 *
 * Plain JSON, versioned, every default written out, every node keeping the
 * `origin` span of the statement it came from so a runtime failure can point
 * back into the .tl source. This zod schema is the source of truth: the
 * TypeScript types are inferred from it and `plan.schema.json` is generated
 * from it (`npm run grammar`).
 */
import { z } from 'zod';
import { PLAN_VERSION } from './version.ts';

export { PLAN_VERSION };

/** Byte offsets into the source (end exclusive) plus the 1-based line/column of `start`. */
export const Origin = z
  .object({
    start: z.number().int().nonnegative(),
    end: z.number().int().nonnegative(),
    line: z.number().int().positive(),
    column: z.number().int().positive(),
  })
  .readonly();
export type Origin = z.infer<typeof Origin>;

/** A place in the base network: one of the coarse blocks, or a native (Keras) layer name. */
export const Target = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('block'), block: z.string() }).readonly(),
  z.object({ kind: z.literal('layer'), layer: z.string() }).readonly(),
]);
export type Target = z.infer<typeof Target>;

export const Weights = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('imagenet') }).readonly(),
  z.object({ kind: z.literal('none') }).readonly(),
  z.object({ kind: z.literal('file'), path: z.string() }).readonly(),
  /** The weights saved with a user's own model (`use "path/model.json"`). */
  z.object({ kind: z.literal('own') }).readonly(),
]);
export type Weights = z.infer<typeof Weights>;

export const Model = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('zoo'),
      name: z.string(),
      weights: Weights,
      input: z.number().int().positive(),
      cut: Target.nullable(),
      origin: Origin,
    })
    .readonly(),
  z
    .object({
      kind: z.literal('file'),
      path: z.string(),
      weights: Weights,
      /** null: the model's own input size. */
      input: z.number().int().positive().nullable(),
      cut: Target.nullable(),
      origin: Origin,
    })
    .readonly(),
]);
export type Model = z.infer<typeof Model>;

/** folder: one sub-folder per class; csv: a path,label manifest; idx: MNIST-style IDX image + label files. */
export const DataFormat = z.enum(['folder', 'csv', 'idx']);
export type DataFormat = z.infer<typeof DataFormat>;

export const Data = z
  .object({
    format: DataFormat,
    path: z.string(),
    /** Fraction of the training data held out for validation (0 when `val` is given). */
    split: z.number().min(0).lt(1),
    val: z.string().nullable(),
    /**
     * Weight each training image's loss by N / (K n_c), N images of K classes and n_c of its class
     * (scikit-learn's class_weight 'balanced'), so that a rare class counts as much as a common one.
     * Plans written before it have none.
     */
    balance: z.boolean().default(false),
    origin: Origin,
  })
  .readonly();
export type Data = z.infer<typeof Data>;

export const HeadLayer = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('dense'),
      units: z.number().int().positive(),
      activation: z.enum(['relu', 'gelu', 'tanh', 'sigmoid', 'elu', 'selu', 'swish', 'linear']),
      origin: Origin,
    })
    .readonly(),
  z.object({ kind: z.literal('dropout'), rate: z.number().min(0).lt(1), origin: Origin }).readonly(),
]);
export type HeadLayer = z.infer<typeof HeadLayer>;

export const Head = z
  .object({
    /** Global average pooling of the base's last feature map, then `layers`, then a softmax over the classes. */
    pooling: z.literal('avg'),
    layers: z.array(HeadLayer).readonly(),
    origin: Origin.nullable(),
  })
  .readonly();
export type Head = z.infer<typeof Head>;

export const Freeze = z
  .object({
    kind: z.enum(['all', 'none', 'until']),
    /** Set for `until`: base layers up to and including the end of this block or layer start frozen. */
    until: Target.nullable(),
    origin: Origin.nullable(),
  })
  .readonly();
export type Freeze = z.infer<typeof Freeze>;

const withOrigin = { origin: Origin };
export const AugmentOp = z.discriminatedUnion('op', [
  z.object({ op: z.literal('flip'), mode: z.enum(['horizontal', 'vertical', 'both']), ...withOrigin }).readonly(),
  z.object({ op: z.literal('rotate'), degrees: z.number().positive().max(180), ...withOrigin }).readonly(),
  z.object({ op: z.literal('zoom'), factor: z.number().positive().lt(1), ...withOrigin }).readonly(),
  z.object({ op: z.literal('translate'), fraction: z.number().positive().lt(1), ...withOrigin }).readonly(),
  z.object({ op: z.literal('brightness'), delta: z.number().positive().max(1), ...withOrigin }).readonly(),
  z.object({ op: z.literal('contrast'), factor: z.number().positive().lt(1), ...withOrigin }).readonly(),
  z.object({ op: z.literal('crop'), fraction: z.number().positive().lt(1), ...withOrigin }).readonly(),
  z.object({ op: z.literal('noise'), stddev: z.number().positive().max(1), ...withOrigin }).readonly(),
  z.object({ op: z.literal('mixup'), alpha: z.number().positive(), ...withOrigin }).readonly(),
  z.object({ op: z.literal('cutmix'), alpha: z.number().positive(), ...withOrigin }).readonly(),
]);
export type AugmentOp = z.infer<typeof AugmentOp>;

/**
 * `weightDecay`: decoupled weight decay (AdamW, Keras's `weight_decay`): each step, before the
 * update, the weights of convolutions and dense layers (not biases or BatchNorm's scales and
 * offsets) shrink by lr times it. 0: none. Plans written before it have none.
 */
const weightDecay = z.number().min(0).lt(1).default(0);
export const Optimizer = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('adam'), beta1: z.number(), beta2: z.number(), epsilon: z.number(), weightDecay }).readonly(),
  z.object({ kind: z.literal('sgd'), momentum: z.number().min(0).lt(1), weightDecay }).readonly(),
  z.object({ kind: z.literal('rmsprop'), rho: z.number(), momentum: z.number().min(0).lt(1), epsilon: z.number(), weightDecay }).readonly(),
]);
export type Optimizer = z.infer<typeof Optimizer>;

/** Learning-rate schedules over a phase's epochs; `warmup` epochs ramp linearly (per batch) from 0 to `lr`. */
export const Schedule = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant'), warmup: z.number().int().nonnegative() }).readonly(),
  z.object({ kind: z.literal('cosine'), minLr: z.number().nonnegative(), warmup: z.number().int().nonnegative() }).readonly(),
  z
    .object({
      kind: z.literal('step'),
      every: z.number().int().positive(),
      gamma: z.number().positive().max(1),
      warmup: z.number().int().nonnegative(),
    })
    .readonly(),
]);
export type Schedule = z.infer<typeof Schedule>;

/**
 * Gradient clipping before each update: `norm` scales all the step's gradients together so that
 * their global L2 norm is at most `max` (PyTorch's clip_grad_norm_, Keras's global_clipnorm);
 * `value` clamps each gradient value to ±`max`. Null: none (and in plans stored before it).
 */
export const Clip = z.object({ mode: z.enum(['norm', 'value']), max: z.number().positive() }).readonly();
export type Clip = z.infer<typeof Clip>;

export const Phase = z
  .object({
    name: z.string(),
    epochs: z.number().int().nonnegative(),
    lr: z.number().positive(),
    batch: z.number().int().positive(),
    optimizer: Optimizer,
    schedule: Schedule,
    clip: Clip.nullable().default(null),
    /**
     * `lr auto`: the rate is searched when the phase starts, from the weights it starts with, as `tl
     * lr-find` searches it (lr-find.ts), and the phase trains at the rate it suggests; `lr` is used
     * where it suggests none. False in plans stored before it.
     */
    findLr: z.boolean().default(false),
    /** The search's training steps where `findLr` (`lr auto steps N`); 100 in plans stored before it. */
    searchSteps: z.number().int().min(2).max(1000).default(100),
    /** What trains in this phase: coarse blocks of the base (`block1`..`block5`) and `head`, shallow to deep. */
    trainable: z.array(z.string()).readonly(),
    /**
     * Set when a `freeze until "layer"` boundary falls inside a trainable block: base layers up to and
     * including this one stay frozen in this phase even though their block is listed in `trainable`.
     */
    frozenThrough: z.string().nullable(),
    /** Layers this phase names in `unfreeze` by their native name (their block need not be listed). */
    trainableLayers: z.array(z.string()).readonly(),
    /**
     * Learning-rate factors by unit: a block, `head`, or a base layer's own name (which wins over its
     * block's); from `decay` and from rates set per unit (`lr block4 1e-5`). A unit not listed, or null: 1.
     */
    lrMultipliers: z.record(z.string(), z.number().positive()).nullable(),
    origin: Origin.nullable(),
  })
  .readonly();
export type Phase = z.infer<typeof Phase>;

export const Adapt = z.discriminatedUnion('method', [
  z.object({ method: z.literal('adabn'), target: z.string(), at: z.enum(['end', 'phase']), ...withOrigin }).readonly(),
  z.object({ method: z.literal('coral'), target: z.string(), weight: z.number().positive(), ...withOrigin }).readonly(),
  z.object({ method: z.literal('dann'), target: z.string(), weight: z.number().positive(), ...withOrigin }).readonly(),
  z
    .object({
      method: z.literal('pseudolabel'),
      target: z.string(),
      threshold: z.number().gt(0).lt(1),
      rounds: z.number().int().positive(),
      ...withOrigin,
    })
    .readonly(),
]);
export type Adapt = z.infer<typeof Adapt>;

export const EarlyStop = z
  .object({
    patience: z.number().int().positive(),
    monitor: z.enum(['val_loss', 'val_accuracy']),
    restoreBest: z.boolean(),
    origin: Origin,
  })
  .readonly();
export type EarlyStop = z.infer<typeof EarlyStop>;

export const Checkpoint = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('best'), monitor: z.enum(['val_loss', 'val_accuracy']), ...withOrigin }).readonly(),
  z.object({ kind: z.literal('every'), epochs: z.number().int().positive(), ...withOrigin }).readonly(),
]);
export type Checkpoint = z.infer<typeof Checkpoint>;

export const PathNode = z.object({ path: z.string(), ...withOrigin }).readonly();

/**
 * The test set. `tta`: each image's class scores are the mean of the image's and its mirror
 * image's (test-time augmentation, as fastai's `tta`); plans written before it have none.
 */
/** The held-out test set, in any format `data` reads (plans written before IDX and csv test sets have none: a folder). */
export const Evaluate = z.object({ format: DataFormat.default('folder'), path: z.string(), tta: z.boolean().default(false), ...withOrigin }).readonly();

export const Plan = z
  .object({
    version: z.literal(PLAN_VERSION),
    model: Model,
    data: Data.nullable(),
    head: Head,
    freeze: Freeze,
    augment: z.array(AugmentOp).readonly(),
    /**
     * The training targets' smoothing: each one-hot label becomes (1 - s) on its class plus s / K on
     * every class of K, as Keras's `label_smoothing` does. 0: none. Plans written before it have none.
     */
    labelSmoothing: z.number().min(0).lt(1).default(0),
      /**
     * Frozen BatchNorm runs in inference mode (Keras' policy); trainable BatchNorm uses batch statistics.
     * `recalibrate: epoch`: before each epoch's validation, the BatchNorm layers that are training get
     * their moving statistics re-measured on the (unaugmented) training images ("precise BN"): with
     * momentum 0.99 and a few dozen steps the moving averages stay far from the data, which made
     * validation metrics, early stopping and the exported model much worse than the weights.
     */
    batchNorm: z.object({ frozen: z.literal('inference'), trainable: z.literal('batch'), recalibrate: z.enum(['epoch', 'never']) }).readonly(),
    phases: z.array(Phase).min(1).readonly(),
    adapt: Adapt.nullable(),
    earlyStop: EarlyStop.nullable(),
    checkpoint: Checkpoint.nullable(),
    seed: z.number().int().nonnegative(),
    evaluate: Evaluate.nullable(),
    export: PathNode.nullable(),
  })
  .readonly();
export type Plan = z.infer<typeof Plan>;
