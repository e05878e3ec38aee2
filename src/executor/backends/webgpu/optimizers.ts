/**
 * Adam, SGD, momentum and RMSprop updates in one pass per variable, for tfjs's own optimizers on
 * webgpu.
 *
 * tfjs 4.22's Adam updates each variable with 14 elementwise ops, and six of their operands are
 * JavaScript numbers (beta1, 1 - beta1, beta2, 1 - beta2, epsilon, -lr), each made a scalar tensor
 * and uploaded through a new staging buffer on every step: fine-tuning all of ResNet50 (214
 * variables) costs about 3,000 dispatches and 1,300 uploads a step for the optimizer alone. Here
 * each rule is one program that reads a variable, its gradient and its state once and writes the
 * new state and value (multi-output.ts): one dispatch a variable for every rule (tfjs: Adam 14,
 * SGD 2, momentum 4, RMSprop 10), with the constants as uniforms. The optimizers keep their own
 * state (moments, accumulated betas, iterations) exactly as tfjs lays it out, so checkpoints and
 * getWeights are unchanged, and the arithmetic is tfjs's, in its order.
 */
import * as tf from '@tensorflow/tfjs';
import { swapMethod, webgpuBackendOf } from './backend.ts';
import { runMultiOutput, type MultiOutputProgram } from './multi-output.ts';

/** {...inputs of the rule}, attrs {rule, a, b, c, d, e, f}: one update (RULES), to the rule's outputs. */
export const OPTIMIZER_UPDATE = 'TLOptimizerUpdate';

const CONSTANTS = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
type Constants = Partial<Record<(typeof CONSTANTS)[number], number>>;

function rule(name: string, inputs: string[], outputs: string[], body: string): MultiOutputProgram {
  return { key: `tlUpdate_${name}`, inputs, outputs, uniforms: CONSTANTS.map((k) => `${k} : f32,`).join(' '), body };
}

/**
 * The update rules, each one program: the variable `x`, its gradient `g` and the rule's state in,
 * the new state and the new value (`x2`, always last) out. `uniforms.a` to `uniforms.f` are the
 * optimizer's numbers; one-element inputs (tfjs's own scalar tensors) are read at [0].
 */
const RULES = {
  // SGD: x' = c g + x, with c the optimizer's own scalar -lr.
  sgd: rule('sgd', ['x', 'g', 'c'], ['x2'], 'x2[index] = c[0] * g[index] + x[index];'),
  // Momentum: a' = m a + g, x' = c a' + x, with m and c (-lr) the optimizer's own scalars.
  momentum: rule(
    'momentum',
    ['x', 'g', 'acc', 'm', 'c'],
    ['acc2', 'x2'],
    `let a = m[0] * acc[index] + g[index];
  acc2[index] = a;
  x2[index] = c[0] * a + x[index];`,
  ),
  // Adam: m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g^2,
  // x' = (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + epsilon) * -lr + x, with k = [1 - b1^t, 1 - b2^t].
  adam: rule(
    'adam',
    ['x', 'g', 'm', 'v', 'k'],
    ['m2', 'v2', 'x2'],
    `let gi = g[index];
  let mi = uniforms.a * m[index] + uniforms.b * gi;
  let vi = uniforms.c * v[index] + uniforms.d * (gi * gi);
  m2[index] = mi;
  v2[index] = vi;
  x2[index] = ((mi / k[0]) / (sqrt(vi / k[1]) + uniforms.e)) * uniforms.f + x[index];`,
  ),
  // RMSprop: ms' = rho ms + (1 - rho) g^2, p' = momentum p + g lr / sqrt(ms' + epsilon), x' = x - p'.
  rmsprop: rule(
    'rmsprop',
    ['x', 'g', 'ms', 'mom'],
    ['ms2', 'mom2', 'x2'],
    `let gi = g[index];
  let s = uniforms.a * ms[index] + uniforms.b * (gi * gi);
  let p = uniforms.c * mom[index] + (gi * uniforms.d) / sqrt(s + uniforms.e);
  ms2[index] = s;
  mom2[index] = p;
  x2[index] = x[index] - p;`,
  ),
};
type Rule = keyof typeof RULES;

/** Kernel function of OPTIMIZER_UPDATE: inputs named as the rule's, outputs in its order. */
export const optimizerUpdate: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { rule, ...constants } = attrs as unknown as { rule: Rule } & Constants;
  const program = RULES[rule];
  const ordered = program.inputs.map((name) => {
    const t = inputs[name];
    if (t === undefined) throw new Error(`${OPTIMIZER_UPDATE} (${rule}) needs ${name}`);
    return t;
  });
  const shape = ordered[0]!.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  return runMultiOutput(webgpuBackendOf(backend), program, ordered, program.outputs.map(() => shape), size, CONSTANTS.map((k) => ({ type: 'float32', data: [constants[k] ?? 0] })));
};

/** One update: the rule's outputs, the new value last. */
function update(rule: Rule, inputs: tf.NamedTensorMap, constants: Constants = {}): tf.Tensor[] {
  return tf.engine().runKernel(OPTIMIZER_UPDATE, inputs, { rule, ...constants }) as tf.Tensor[];
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
    const k = tf.sub(1, tf.stack([this.accBeta1, this.accBeta2]));
    const constants = { a: this.beta1, b: 1 - this.beta1, c: this.beta2, d: 1 - this.beta2, e: this.epsilon, f: -this.learningRate };
    entries(gradients).forEach(({ name, gradient }, i) => {
      const x = tf.engine().registeredVariables[name]!;
      const m = slot(this.accumulatedFirstMoment, i, x, 'm');
      const v = slot(this.accumulatedSecondMoment, i, x, 'v');
      if (gradient == null) return;
      assignAll([m, v, x], update('adam', { x, g: gradient, m, v, k }, constants));
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
    tf.tidy(() => assignAll([x], update('sgd', { x, g: gradient, c: this.c })));
  }
  this.incrementIterations();
}

function momentumApply(this: MomentumState, gradients: Gradients): void {
  entries(gradients).forEach(({ name, gradient }, i) => {
    const x = tf.engine().registeredVariables[name]!;
    const acc = slot(this.accumulations, i, x, 'momentum');
    if (gradient == null) return;
    tf.tidy(() => assignAll([acc, x], update('momentum', { x, g: gradient, acc, m: this.m, c: this.c })));
  });
  this.incrementIterations();
}

function rmspropApply(this: RmspropState, gradients: Gradients): void {
  const constants = { a: this.decay, b: 1 - this.decay, c: this.momentum, d: this.learningRate, e: this.epsilon };
  entries(gradients).forEach(({ name, gradient }, i) => {
    const x = tf.engine().registeredVariables[name]!;
    const ms = slot(this.accumulatedMeanSquares, i, x, 'rms');
    const mom = slot(this.accumulatedMoments, i, x, 'momentum');
    if (gradient == null) return;
    tf.tidy(() => assignAll([ms, mom, x], update('rmsprop', { x, g: gradient, ms, mom }, constants)));
  });
  this.incrementIterations();
}

/** Gives each variable its new value, in order (the update's outputs are disposed with the caller's tidy). */
function assignAll(variables: readonly tf.Variable[], values: readonly tf.Tensor[]): void {
  variables.forEach((v, i) => v.assign(values[i]!));
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
