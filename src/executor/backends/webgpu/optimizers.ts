/**
 * Adam, SGD, momentum and RMSprop updates in few passes, for tfjs's own optimizers on webgpu.
 *
 * tfjs 4.22's Adam updates each variable with 14 elementwise ops, and six of their operands are
 * JavaScript numbers (beta1, 1 - beta1, beta2, 1 - beta2, epsilon, -lr), each made a scalar tensor
 * and uploaded through a new staging buffer on every step: fine-tuning all of ResNet50 (214
 * variables) costs about 3,000 dispatches and 1,300 uploads a step for the optimizer alone. Here
 * Adam is three passes per variable (the two moments, then the value), SGD one, momentum two and
 * RMSprop three (tfjs: 14, 2, 4 and 10), with the constants as uniforms. The optimizers keep their own state (moments, accumulated betas,
 * iterations) exactly as tfjs lays it out, so checkpoints and getWeights are unchanged, and the
 * arithmetic is tfjs's, in its order.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, runProgram, swapMethod, webgpuBackendOf } from './backend.ts';

/** {...inputs of the rule}, attrs {rule, a, b}: one elementwise update (RULES). */
export const OPTIMIZER_UPDATE = 'TLOptimizerUpdate';

/** The update rules; `a`, `b` and `e` are uniforms, one-element inputs are read at [0]. */
const RULES = {
  // An average: Adam's first moment, beta1 m + (1 - beta1) g.
  ema: { inputs: ['u', 'g'], expression: 'uniforms.a * u[index] + uniforms.b * g[index]' },
  // An average of squares: Adam's second moment and RMSprop's mean square, rho v + (1 - rho) g^2.
  emaSquare: { inputs: ['u', 'g'], expression: 'uniforms.a * u[index] + uniforms.b * (g[index] * g[index])' },
  // x' = (m' / (1 - beta1^t)) / (sqrt(v' / (1 - beta2^t)) + epsilon) * -lr + x
  adamValue: { inputs: ['x', 'm', 'v', 'c1', 'c2'], expression: '((m[index] / c1[0]) / (sqrt(v[index] / c2[0]) + uniforms.e)) * uniforms.b + x[index]' },
  // x' = c u + x, with c the optimizer's own scalar -lr: SGD (u = g) and momentum's value step.
  step: { inputs: ['x', 'u', 'c'], expression: 'c[0] * u[index] + x[index]' },
  // Momentum's accumulation, a' = m a + g, with m the optimizer's own scalar.
  accumulate: { inputs: ['u', 'g', 'm'], expression: 'm[0] * u[index] + g[index]' },
  // RMSprop's moment, momentum p + g lr / sqrt(ms' + epsilon).
  rmsMoment: { inputs: ['u', 'g', 'ms'], expression: 'uniforms.a * u[index] + (g[index] * uniforms.b) / sqrt(ms[index] + uniforms.e)' },
  // RMSprop's value, x - p'.
  subtract: { inputs: ['x', 'u'], expression: 'x[index] - u[index]' },
} as const;
type Rule = keyof typeof RULES;

class UpdateProgram extends FlatProgram {
  readonly variableNames: string[];
  readonly uniforms = 'a : f32, b : f32, e : f32,';
  readonly shaderKey: string;

  constructor(private readonly rule: Rule, shape: readonly number[]) {
    super(shape);
    this.variableNames = [...RULES[rule].inputs];
    this.shaderKey = `tlUpdate_${rule}`;
  }

  protected body(): string {
    return `result[index] = ${RULES[this.rule].expression};`;
  }
}

/** Kernel function of OPTIMIZER_UPDATE: inputs named as the rule's. */
export const optimizerUpdate: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { rule, a, b, e } = attrs as unknown as { rule: Rule; a: number; b: number; e: number };
  const ordered = RULES[rule].inputs.map((name) => {
    const t = inputs[name];
    if (t === undefined) throw new Error(`${OPTIMIZER_UPDATE} (${rule}) needs ${name}`);
    return t;
  });
  return runProgram(webgpuBackendOf(backend), new UpdateProgram(rule, ordered[0]!.shape), ordered, [
    { type: 'float32', data: [a] },
    { type: 'float32', data: [b] },
    { type: 'float32', data: [e] },
  ]);
};

function update(rule: Rule, inputs: tf.NamedTensorMap, constants: { a?: number; b?: number; e?: number } = {}): tf.Tensor {
  return tf.engine().runKernel(OPTIMIZER_UPDATE, inputs, { rule, a: constants.a ?? 0, b: constants.b ?? 0, e: constants.e ?? 0 }) as tf.Tensor;
}

type Gradients = tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[];
type ApplyGradients = (this: tf.Optimizer, gradients: Gradients) => void;

/** The fields of tfjs's optimizers this module reads and writes (tfjs-core 4.22). */
interface AdamState {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly accBeta1: tf.Variable;
  readonly accBeta2: tf.Variable;
  readonly accumulatedFirstMoment: Slot[];
  readonly accumulatedSecondMoment: Slot[];
  incrementIterations(): void;
}
interface SgdState {
  readonly c: tf.Scalar;
  incrementIterations(): void;
}
interface MomentumState extends SgdState {
  readonly m: tf.Scalar;
  readonly useNesterov: boolean;
  readonly accumulations: Slot[];
}
interface RmspropState {
  readonly learningRate: number;
  readonly decay: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;
  readonly accumulatedMeanSquares: Slot[];
  readonly accumulatedMoments: Slot[];
  incrementIterations(): void;
}
type Slot = { originalName: string; variable: tf.Variable };

/** An optimizer's per-variable state, created as tfjs does on first use: zeros, not trainable. */
function slot(slots: Slot[], i: number, x: tf.Variable, suffix: string): tf.Variable {
  slots[i] ??= { originalName: `${x.name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(x).variable(false)) };
  return slots[i]!.variable;
}

function entries(gradients: Gradients): { name: string; gradient: tf.Tensor | undefined }[] {
  return Array.isArray(gradients) ? gradients.map((g) => ({ name: g.name, gradient: g.tensor })) : Object.keys(gradients).map((name) => ({ name, gradient: gradients[name] }));
}

/** Whether the fused updates apply: webgpu, and float32 throughout. */
function fusable(gradients: Gradients): boolean {
  return tf.getBackend() === 'webgpu' && entries(gradients).every(({ name, gradient }) => (gradient == null || gradient.dtype === 'float32') && tf.engine().registeredVariables[name]?.dtype === 'float32');
}

function adamApply(this: AdamState, gradients: Gradients): void {
  tf.tidy(() => {
    const c1 = tf.sub(1, this.accBeta1);
    const c2 = tf.sub(1, this.accBeta2);
    entries(gradients).forEach(({ name, gradient }, i) => {
      const x = tf.engine().registeredVariables[name]!;
      const m = slot(this.accumulatedFirstMoment, i, x, 'm');
      const v = slot(this.accumulatedSecondMoment, i, x, 'v');
      if (gradient == null) return;
      const m2 = update('ema', { u: m, g: gradient }, { a: this.beta1, b: 1 - this.beta1 });
      const v2 = update('emaSquare', { u: v, g: gradient }, { a: this.beta2, b: 1 - this.beta2 });
      m.assign(m2);
      v.assign(v2);
      x.assign(update('adamValue', { x, m: m2, v: v2, c1, c2 }, { e: this.epsilon, b: -this.learningRate }));
    });
    this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
    this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
  });
  this.incrementIterations();
}

function sgdApply(this: SgdState, gradients: Gradients): void {
  for (const { name, gradient } of entries(gradients)) {
    if (gradient == null) continue;
    const x = tf.engine().registeredVariables[name]!;
    tf.tidy(() => x.assign(update('step', { x, u: gradient, c: this.c })));
  }
  this.incrementIterations();
}

function momentumApply(this: MomentumState, gradients: Gradients): void {
  entries(gradients).forEach(({ name, gradient }, i) => {
    const x = tf.engine().registeredVariables[name]!;
    const acc = slot(this.accumulations, i, x, 'momentum');
    if (gradient == null) return;
    tf.tidy(() => {
      const acc2 = update('accumulate', { u: acc, g: gradient, m: this.m });
      acc.assign(acc2);
      x.assign(update('step', { x, u: acc2, c: this.c }));
    });
  });
  this.incrementIterations();
}

function rmspropApply(this: RmspropState, gradients: Gradients): void {
  entries(gradients).forEach(({ name, gradient }, i) => {
    const x = tf.engine().registeredVariables[name]!;
    const ms = slot(this.accumulatedMeanSquares, i, x, 'rms');
    const mom = slot(this.accumulatedMoments, i, x, 'momentum');
    if (gradient == null) return;
    tf.tidy(() => {
      const ms2 = update('emaSquare', { u: ms, g: gradient }, { a: this.decay, b: 1 - this.decay });
      const mom2 = update('rmsMoment', { u: mom, g: gradient, ms: ms2 }, { a: this.momentum, b: this.learningRate, e: this.epsilon });
      ms.assign(ms2);
      mom.assign(mom2);
      x.assign(update('subtract', { x, u: mom2 }));
    });
  });
  this.incrementIterations();
}

type OptimizerClass = { prototype: { applyGradients: ApplyGradients } };
const cls = (c: unknown) => c as OptimizerClass;
const fused = (f: unknown) => f as ApplyGradients;

/** Each class, its fused update, and the settings it leaves to the class's own (Nesterov, centered RMSprop). */
const FUSED: readonly { cls: OptimizerClass; fused: ApplyGradients; leaveToTfjs?: (o: never) => boolean }[] = [
  { cls: cls(tf.AdamOptimizer), fused: fused(adamApply) },
  { cls: cls(tf.SGDOptimizer), fused: fused(sgdApply) },
  { cls: cls(tf.MomentumOptimizer), fused: fused(momentumApply), leaveToTfjs: (o: MomentumState) => o.useNesterov },
  { cls: cls(tf.RMSPropOptimizer), fused: fused(rmspropApply), leaveToTfjs: (o: RmspropState) => o.centered },
];

/** Put the classes' own applyGradients back, while TL's are in their place. */
const restores: (() => void)[] = [];

/**
 * Puts the fused updates in tf.train.adam, sgd, momentum and rmsprop for float32 updates on webgpu;
 * anything else (and Nesterov momentum, centered RMSprop) goes to the class's own.
 * `restoreOptimizers` puts those back.
 */
export function patchOptimizers(): void {
  if (restores.length > 0) return;
  for (const { cls, fused, leaveToTfjs } of FUSED) {
    restores.push(swapMethod(cls.prototype, 'applyGradients', (own, active) =>
      function (this: tf.Optimizer, gradients: Gradients) {
        const mine = active() && fusable(gradients) && !(leaveToTfjs?.(this as never) ?? false);
        return mine ? fused.call(this, gradients) : own.call(this, gradients);
      },
    ));
  }
}

/** Restores tfjs's own applyGradients. */
export function restoreOptimizers(): void {
  for (const restore of restores.splice(0)) restore();
}
