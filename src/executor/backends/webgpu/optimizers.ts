/**
 * Adam, SGD, momentum and RMSprop updates in few dispatches, for tfjs's own optimizers on webgpu.
 *
 * tfjs 4.22's Adam updates each variable with 14 elementwise ops, and six of their operands are
 * JavaScript numbers (beta1, 1 - beta1, beta2, 1 - beta2, epsilon, -lr), each made a scalar tensor
 * and uploaded through a new staging buffer on every step: fine-tuning all of ResNet50 (214
 * variables) costs about 3,000 dispatches and 1,300 uploads a step for the optimizer alone. Here
 * each rule is one program that reads a variable's gradient and its state once and writes the new
 * state and value into the same buffers (in-place.ts says when that is safe, and what it does when
 * not), with the constants as uniforms, and one dispatch updates a pack of variables: as many as
 * the device lets one dispatch bind (its storage-buffer limit, which adapter.ts raises to the
 * adapter's own), up to 8. On llvmpipe's 16 buffers that is 7 variables a dispatch for SGD, 4 for
 * momentum and RMSprop and 3 for Adam (tfjs: Adam 14 dispatches a variable, SGD 2, momentum 4,
 * RMSprop 10). Writing in place makes no new tensors and leaves every weight in the buffer it had,
 * so the next step's dispatches bind what this step's did (bind-group-cache.ts). The optimizers
 * keep their own state (moments, accumulated betas, iterations) exactly as tfjs lays it out, so
 * checkpoints and getWeights are unchanged, and the arithmetic is tfjs's, in its order.
 */
import * as tf from '@tensorflow/tfjs';
import { sizeOf, swapMethod, webgpuBackendOf } from './backend.ts';
import { writableInPlace } from './in-place.ts';
import { runMultiOutput, type MultiOutputProgram } from './multi-output.ts';

/**
 * {`shared` inputs of the rule, then each variable's gradient suffixed with its place in the pack
 * (g0, g1, ...), then each of the rule's `state` so suffixed (x0, x1, ... last)}, attrs {rule, count,
 * a, b, c, d, e, f}: one dispatch updating `count` variables and their state in place (in-place.ts
 * makes their buffers their own first). It returns nothing.
 */
export const OPTIMIZER_UPDATE = 'TLOptimizerUpdate';

const CONSTANTS = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
type Constants = Partial<Record<(typeof CONSTANTS)[number], number>>;

/**
 * An update rule: per variable, its `state`, read and written in place (the optimizer's slots,
 * then the variable `x` itself), beside its gradient `g`, read only; `shared`, the optimizer's own
 * scalar tensors, read at [0]; `body`, WGSL for element `i` of one variable whose buffers `n`
 * names. `uniforms.a` to `uniforms.f` are the optimizer's numbers.
 */
interface Rule {
  readonly state: readonly string[];
  readonly shared: readonly string[];
  body(n: Readonly<Record<string, string>>): string;
}

const RULES = {
  // SGD: x' = c g + x, with c the optimizer's own scalar -lr.
  sgd: { state: ['x'], shared: ['c'], body: (n) => `${n.x}[i] = c[0] * ${n.g}[i] + ${n.x}[i];` },
  // Momentum: a' = m a + g, x' = c a' + x, with m and c (-lr) the optimizer's own scalars.
  momentum: {
    state: ['acc', 'x'],
    shared: ['m', 'c'],
    body: (n) => `let a = m[0] * ${n.acc}[i] + ${n.g}[i];
    ${n.acc}[i] = a;
    ${n.x}[i] = c[0] * a + ${n.x}[i];`,
  },
  // Adam: m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g^2,
  // x' = (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + epsilon) * -lr + x, with k = [1 - b1^t, 1 - b2^t].
  adam: {
    state: ['m', 'v', 'x'],
    shared: ['k'],
    body: (n) => `let gi = ${n.g}[i];
    let mi = uniforms.a * ${n.m}[i] + uniforms.b * gi;
    let vi = uniforms.c * ${n.v}[i] + uniforms.d * (gi * gi);
    ${n.m}[i] = mi;
    ${n.v}[i] = vi;
    ${n.x}[i] = ((mi / k[0]) / (sqrt(vi / k[1]) + uniforms.e)) * uniforms.f + ${n.x}[i];`,
  },
  // RMSprop: ms' = rho ms + (1 - rho) g^2, p' = momentum p + g lr / sqrt(ms' + epsilon), x' = x - p'.
  rmsprop: {
    state: ['ms', 'mom', 'x'],
    shared: [],
    body: (n) => `let gi = ${n.g}[i];
    let s = uniforms.a * ${n.ms}[i] + uniforms.b * (gi * gi);
    let p = uniforms.c * ${n.mom}[i] + (gi * uniforms.d) / sqrt(s + uniforms.e);
    ${n.ms}[i] = s;
    ${n.mom}[i] = p;
    ${n.x}[i] = ${n.x}[i] - p;`,
  },
} satisfies Record<string, Rule>;
type RuleName = keyof typeof RULES;

/** Most variables one dispatch updates, whatever the device allows (each count is a shader of its own). */
const MAX_PACK = 8;

/** How many variables of `rule` one dispatch can bind on `device`. */
function packSize(rule: Rule, device: GPUDevice): number {
  const perVariable = 1 + rule.state.length; // its gradient and its state
  return Math.max(1, Math.min(MAX_PACK, Math.floor((device.limits.maxStorageBuffersPerShaderStage - rule.shared.length) / perVariable)));
}

const programs = new Map<string, MultiOutputProgram>();

/**
 * The program updating `count` variables of `rule`: the flat index runs over them one after the
 * other, variable j taking the indices below `uniforms.end<j>`. Its outputs are the variables'
 * state, bound read-write and written in place.
 */
function packProgram(name: RuleName, count: number): MultiOutputProgram {
  const key = `tlUpdate_${name}_${count}`;
  let program = programs.get(key);
  if (program === undefined) {
    const rule: Rule = RULES[name];
    const names = (j: number) => Object.fromEntries(['g', ...rule.state].map((n) => [n, `${n}${j}`]));
    const places = Array.from({ length: count }, (_, j) => j);
    const body = places.map((j) => `if (index < uniforms.end${j}) {
    let i = index - ${j === 0 ? '0' : `uniforms.end${j - 1}`};
    ${rule.body(names(j))}
    return;
  }`);
    program = {
      key,
      inputs: [...rule.shared, ...places.map((j) => `g${j}`)],
      outputs: places.flatMap((j) => rule.state.map((n) => `${n}${j}`)),
      uniforms: [...CONSTANTS.map((k) => `${k} : f32,`), ...places.map((j) => `end${j} : i32,`)].join(' '),
      body: body.join('\n  '),
    };
    programs.set(key, program);
  }
  return program;
}

/** Kernel function of OPTIMIZER_UPDATE. */
export const optimizerUpdate: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { rule: name, count, ...constants } = attrs as unknown as { rule: RuleName; count: number } & Constants;
  const rule: Rule = RULES[name];
  const program = packProgram(name, count);
  const take = (n: string) => {
    const t = inputs[n];
    if (t === undefined) throw new Error(`${OPTIMIZER_UPDATE} (${name}, ${count}) needs ${n}`);
    return t;
  };
  const read = program.inputs.map(take);
  const written = program.outputs.map(take);
  const ends: number[] = [];
  for (let j = 0; j < count; j++) ends.push((ends.at(-1) ?? 0) + sizeOf(written[(j + 1) * rule.state.length - 1]!.shape));
  const uniforms = [...CONSTANTS.map((k) => ({ type: 'float32' as const, data: [constants[k] ?? 0] })), ...ends.map((e) => ({ type: 'int32' as const, data: [e] }))];
  runMultiOutput(webgpuBackendOf(backend), program, read, written, ends.at(-1) ?? 0, uniforms);
  return [];
};

/** One variable's update: its gradient, and the variables updated in place (its state, then itself). */
interface Update {
  readonly gradient: tf.Tensor;
  readonly targets: readonly tf.Variable[];
}

/** Runs `updates` of `rule` in packs, one dispatch each, writing into every target's own buffer. */
function updateAll(name: RuleName, updates: readonly Update[], shared: tf.NamedTensorMap, constants: Constants = {}): void {
  const rule: Rule = RULES[name];
  const backend = webgpuBackendOf(tf.backend());
  const per = packSize(rule, backend.device);
  const nonEmpty = updates.filter((u) => u.gradient.size > 0);
  for (let start = 0; start < nonEmpty.length; start += per) {
    const pack = nonEmpty.slice(start, start + per);
    const inputs: tf.NamedTensorMap = { ...shared };
    pack.forEach((u, j) => {
      inputs[`g${j}`] = u.gradient;
      u.targets.forEach((v, q) => (inputs[`${rule.state[q]}${j}`] = writableInPlace(backend, v)));
    });
    tf.engine().runKernel(OPTIMIZER_UPDATE, inputs, { rule: name, count: pack.length, ...constants });
  }
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
    const updates: Update[] = [];
    entries(gradients).forEach(({ name, gradient }, i) => {
      const x = tf.engine().registeredVariables[name]!;
      const m = slot(this.accumulatedFirstMoment, i, x, 'm');
      const v = slot(this.accumulatedSecondMoment, i, x, 'v');
      if (gradient != null) updates.push({ gradient, targets: [m, v, x] });
    });
    const k = tf.sub(1, tf.stack([this.accBeta1, this.accBeta2]));
    updateAll('adam', updates, { k }, { a: this.beta1, b: 1 - this.beta1, c: this.beta2, d: 1 - this.beta2, e: this.epsilon, f: -this.learningRate });
    this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
    this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
  });
  this.incrementIterations();
}

function sgdApply(this: SgdState, gradients: Gradients): void {
  const updates: Update[] = [];
  for (const { name, gradient } of entries(gradients)) {
    const x = tf.engine().registeredVariables[name]!;
    if (gradient != null) updates.push({ gradient, targets: [x] });
  }
  updateAll('sgd', updates, { c: this.c });
  this.incrementIterations();
}

function momentumApply(this: MomentumState, gradients: Gradients): void {
  const updates: Update[] = [];
  entries(gradients).forEach(({ name, gradient }, i) => {
    const x = tf.engine().registeredVariables[name]!;
    const acc = slot(this.accumulations, i, x, 'momentum');
    if (gradient != null) updates.push({ gradient, targets: [acc, x] });
  });
  updateAll('momentum', updates, { m: this.m, c: this.c });
  this.incrementIterations();
}

function rmspropApply(this: RmspropState, gradients: Gradients): void {
  const updates: Update[] = [];
  entries(gradients).forEach(({ name, gradient }, i) => {
    const x = tf.engine().registeredVariables[name]!;
    const ms = slot(this.accumulatedMeanSquares, i, x, 'rms');
    const mom = slot(this.accumulatedMoments, i, x, 'momentum');
    if (gradient != null) updates.push({ gradient, targets: [ms, mom, x] });
  });
  updateAll('rmsprop', updates, {}, { a: this.decay, b: 1 - this.decay, c: this.momentum, d: this.learningRate, e: this.epsilon });
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
