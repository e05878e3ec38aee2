/** The words the language gives meaning to beyond its keywords, with their defaults. */

export const WEIGHT_SOURCES = ['imagenet', 'none'] as const;
export const ACTIVATIONS = ['relu', 'gelu', 'tanh', 'sigmoid', 'elu', 'selu', 'swish', 'linear'] as const;
/** `adamw` is Adam with weight decay (DEFAULTS.adamwDecay unless the script gives one). */
export const OPTIMIZERS = ['adam', 'adamw', 'sgd', 'rmsprop'] as const;
export const SCHEDULES = ['constant', 'cosine', 'step'] as const;
/** `clip norm X`: the gradients' global L2 norm at most X; `clip value X`: each gradient value within ±X. */
export const CLIP_MODES = ['norm', 'value'] as const;
export const ADAPT_METHODS = ['adabn', 'coral', 'dann', 'pseudolabel'] as const;
export const MONITORS = ['val_loss', 'val_accuracy'] as const;
export const FLIP_MODES = ['horizontal', 'vertical', 'both'] as const;
export const ADABN_AT = ['end', 'phase'] as const;

/** Each augment op, the plan field its argument fills (plan/build.ts checks that these are the plan's ops), the argument's default and its limits. */
export const AUGMENT_OPS = {
  flip: { field: 'mode', default: 'horizontal' },
  rotate: { field: 'degrees', default: 15, min: 0, max: 180, what: 'degrees' },
  zoom: { field: 'factor', default: 0.1, min: 0, max: 1, maxExclusive: true, what: 'a fraction of the size' },
  translate: { field: 'fraction', default: 0.1, min: 0, max: 1, maxExclusive: true, what: 'a fraction of the size' },
  brightness: { field: 'delta', default: 0.2, min: 0, max: 1, what: 'a fraction of the value range' },
  contrast: { field: 'factor', default: 0.2, min: 0, max: 1, maxExclusive: true, what: 'a fraction' },
  crop: { field: 'fraction', default: 0.1, min: 0, max: 1, maxExclusive: true, what: 'a fraction of the size' },
  noise: { field: 'stddev', default: 0.05, min: 0, max: 1, what: 'a standard deviation as a fraction of the range' },
  mixup: { field: 'alpha', default: 0.2, min: 0, max: 100, what: 'a Beta distribution alpha' },
  cutmix: { field: 'alpha', default: 1, min: 0, max: 100, what: 'a Beta distribution alpha' },
} as const satisfies Record<string, { field: string; default: number | string; min?: number; max?: number; maxExclusive?: boolean; what?: string }>;

export type AugmentName = keyof typeof AUGMENT_OPS;
export const AUGMENT_NAMES = Object.keys(AUGMENT_OPS) as AugmentName[];

/** Defaults of the first phase, written into every plan. */
export const PHASE_DEFAULTS = {
  epochs: 5,
  lr: 1e-3,
  batch: 32,
  optimizer: 'adam',
  schedule: 'constant',
  /** `lr auto`'s search, as fastai's lr_find takes it: 100 training steps. */
  searchSteps: 100,
} as const;

export const DEFAULTS = {
  seed: 42,
  split: 0.2,
  denseActivation: 'relu',
  earlyStopPatience: 3,
  monitor: 'val_loss',
  adaptWeight: 1,
  pseudolabelThreshold: 0.9,
  pseudolabelRounds: 1,
  adabnAt: 'end',
  cosineMin: 0,
  stepEvery: 2,
  stepGamma: 0.5,
  sgdMomentum: 0,
  rmspropMomentum: 0,
  /** PyTorch's AdamW default; every other optimizer decays by 0 unless given `weight decay`. */
  adamwDecay: 0.01,
} as const;

export function isOneOf<T extends string>(list: readonly T[], word: string): word is T {
  return (list as readonly string[]).includes(word);
}
