/**
 * tfjs's own optimizers (tf.train.adam, sgd, momentum, rmsprop) with each step's updates fused,
 * on the backends that register an updater for them (webgpu/optimizers.ts, wasm-kernels/optimizers.ts).
 *
 * tfjs 4.22 updates each variable with a chain of elementwise ops (Adam 14, RMSprop 10, momentum
 * 4, SGD 2), each a pass over the variable and a new tensor, and assigns the results. A backend's
 * updater instead reads each variable's gradient and state once and writes the new state and
 * value in one pass (webgpu into the variables' own buffers; wasm its state in place and the
 * value into new memory). This module is what the backends share: the optimizers'
 * state exactly as tfjs lays it out (moments, accumulated betas, iterations, created as tfjs does
 * on first use), so checkpoints and getWeights are unchanged; which variables each rule writes, in
 * what order; and the swap of each class's applyGradients, which hands anything not float32 on a
 * registered backend, and Nesterov momentum and centered RMSprop, to the class's own. TL's weight
 * decay (which tfjs's optimizers lack) is here too, in the fused update or before the class's own.
 */
import * as tf from '@tensorflow/tfjs';
import { writeValuesInPlace } from './in-place-writes.ts';
import { swapMethod } from './registry.ts';

/**
 * The update rules, each in tfjs's arithmetic and order, with the numbers an updater gets as
 * `constants` a to f and the optimizer's scalar tensors as `shared`:
 * - sgd, state [x], shared c (-lr): x' = c g + x
 * - momentum, state [acc, x], shared m, c: a' = m a + g, x' = c a' + x
 * - adam, state [m, v, x], shared k = [1 - b1^t, 1 - b2^t] and f -lr, constants a b1, b 1 - b1, c b2, d 1 - b2, e epsilon:
 *   m' = a m + b g, v' = c v + d g^2, x' = ((m' / k0) / (sqrt(v' / k1) + e)) f + x
 * - rmsprop, state [ms, mom, x], shared d lr, constants a rho, b 1 - rho, c momentum, e epsilon:
 *   ms' = a ms + b g^2, p' = c mom + (g d) / sqrt(ms' + e), x' = x - p'
 *
 * With weight decay `w` (constant w, 0 where the variable does not decay), each rule's x on the
 * right of x' is x (1 - lr w): the weights shrink before the update, decoupled from the gradient as
 * in AdamW (Loshchilov and Hutter) and Keras's `weight_decay`. With w 0 the factor is exactly 1.
 */
export type RuleName = 'sgd' | 'momentum' | 'adam' | 'rmsprop';

export const CONSTANTS = ['a', 'b', 'c', 'd', 'e', 'f', 'w'] as const;
export type Constants = Partial<Record<(typeof CONSTANTS)[number], number>>;

/** One variable's update: its gradient, and the variables it updates (its state, then itself). */
export interface Update {
  readonly gradient: tf.Tensor;
  readonly targets: readonly tf.Variable[];
}

/** Runs `updates` of `rule`, giving every target its new value. */
export type Updater = (rule: RuleName, updates: readonly Update[], shared: tf.NamedTensorMap, constants: Constants) => void;

/**
 * Multiplies each variable by its factor in its own buffer, on a backend that writes tensors so
 * (webgpu): Adam's accumulated betas, which tfjs assigns new tensors each step. Written in place,
 * a step binds the buffers the step before bound (what a recorded step needs, webgpu/step-graph.ts).
 */
export type Scaler = (targets: readonly { readonly variable: tf.Variable; readonly factor: number }[]) => void;

/** The updater of each backend that has one, and its scaler where it has one. */
const updaters = new Map<string, Updater>();
const scalers = new Map<string, Scaler>();

/** Each optimizer's learning rate as the scalar tensor its update reads (rate() below), negated for all rules but RMSprop's. */
const rates = new WeakMap<object, { readonly tensor: tf.Scalar; readonly negated: boolean; value: number }>();

/**
 * The optimizer's learning rate as a scalar tensor (-lr where `negated`, as the rule takes it): a
 * tensor rather than a number in the update's uniforms, so that a schedule that moves the rate
 * every step changes what one buffer holds, written in place where the backend can (by setRate,
 * before the step), and not the commands a step queues.
 */
function rate(optimizer: { readonly learningRate: number }, negated: boolean): tf.Scalar {
  const value = negated ? -optimizer.learningRate : optimizer.learningRate;
  const held = rates.get(optimizer);
  if (held !== undefined && (held.value === value || writeValuesInPlace(held.tensor, Float32Array.of(value)))) {
    held.value = value;
    return held.tensor;
  }
  held?.tensor.dispose();
  const tensor = tf.keep(tf.scalar(value));
  rates.set(optimizer, { tensor, negated, value });
  return tensor;
}

/** Each optimizer's weight decay, where it has one (setWeightDecay). */
const decays = new WeakMap<object, number>();

/**
 * Whether weight decay applies to `x`: the weights of convolutions and dense layers (rank 2 and
 * up), not biases or BatchNorm's scales and offsets, as fine-tuning recipes (timm, Hugging Face) leave them.
 */
export function decaysWeight(x: tf.Variable): boolean {
  return x.rank >= 2;
}

/**
 * Gives `optimizer` decoupled weight decay: at each step, before its update, every weight it
 * updates that `decaysWeight` shrinks by lr times `decay`. In the fused update where the backend has one,
 * by tfjs ops before the class's own update elsewhere.
 */
export function setWeightDecay(optimizer: tf.Optimizer, decay: number): void {
  if (decay > 0) decays.set(optimizer, decay);
  else decays.delete(optimizer);
  swapClasses();
}

/** Runs `updates` of `optimizer`'s `rule`, those whose weights decay apart from the others (constant w). */
function update(optimizer: object, rule: RuleName, updates: readonly Update[], shared: tf.NamedTensorMap, constants: Constants = {}): void {
  const run = updaters.get(tf.getBackend())!;
  const w = decays.get(optimizer) ?? 0;
  const isDecayed = (u: Update) => w > 0 && decaysWeight(u.targets.at(-1)!);
  const live = updates.filter((u) => u.gradient.size > 0);
  for (const [list, decay] of [[live.filter(isDecayed), w], [live.filter((u) => !isDecayed(u)), 0]] as const) {
    if (list.length > 0) run(rule, list, shared, { ...constants, w: decay });
  }
}

/** Weight decay where tfjs's own update runs: the weights shrunk by tfjs ops, then updated. */
function decayBefore(optimizer: object, gradients: Gradients): void {
  const w = decays.get(optimizer);
  if (w === undefined) return;
  const keep = 1 - (optimizer as { learningRate: number }).learningRate * w;
  tf.tidy(() => {
    for (const { name, gradient } of entries(gradients)) {
      const x = tf.engine().registeredVariables[name];
      if (gradient != null && x !== undefined && decaysWeight(x)) x.assign(tf.mul(x, keep));
    }
  });
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
  readonly learningRate: number;
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

/** Whether the fused updates apply: a backend with an updater, and float32 throughout. */
function fusable(gradients: Gradients): boolean {
  return updaters.has(tf.getBackend()) && entries(gradients).every(({ name, gradient }) => (gradient == null || gradient.dtype === 'float32') && tf.engine().registeredVariables[name]?.dtype === 'float32');
}

/**
 * Each gradient's update: `targets` gives the variable's state slots (made on first use as tfjs
 * makes them, also for a variable without a gradient this time) and then the variable itself.
 */
function updatesOf(gradients: Gradients, targets: (x: tf.Variable, i: number) => tf.Variable[]): Update[] {
  const updates: Update[] = [];
  entries(gradients).forEach(({ name, gradient }, i) => {
    const written = targets(tf.engine().registeredVariables[name]!, i);
    if (gradient != null) updates.push({ gradient, targets: written });
  });
  return updates;
}

/**
 * Writes the optimizer's new learning rate into the tensor its fused update reads, before the step
 * that uses it: written there rather than inside the step, the step queues what the one before
 * queued and can be replayed (webgpu/step-graph.ts). Call after changing `learningRate`.
 */
export function setRate(optimizer: tf.Optimizer): void {
  const held = rates.get(optimizer);
  if (held !== undefined) rate(optimizer as unknown as { learningRate: number }, held.negated);
}

function adamApply(this: AdamState, gradients: Gradients): void {
  tf.tidy(() => {
    const updates = updatesOf(gradients, (x, i) => [slot(this.accumulatedFirstMoment, i, x, 'm'), slot(this.accumulatedSecondMoment, i, x, 'v'), x]);
    const k = tf.sub(1, tf.stack([this.accBeta1, this.accBeta2]));
    update(this, 'adam', updates, { k, f: rate(this, true) }, { a: this.beta1, b: 1 - this.beta1, c: this.beta2, d: 1 - this.beta2, e: this.epsilon });
  });
  // After the tidy, which drops the views of the betas that k was stacked from.
  const scale = scalers.get(tf.getBackend());
  if (scale !== undefined) scale([{ variable: this.accBeta1, factor: this.beta1 }, { variable: this.accBeta2, factor: this.beta2 }]);
  else {
    tf.tidy(() => {
      this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
    });
  }
  this.incrementIterations();
}

function sgdApply(this: SgdState, gradients: Gradients): void {
  update(this, 'sgd', updatesOf(gradients, (x) => [x]), { c: rate(this, true) });
  this.incrementIterations();
}

function momentumApply(this: MomentumState, gradients: Gradients): void {
  update(this, 'momentum', updatesOf(gradients, (x, i) => [slot(this.accumulations, i, x, 'momentum'), x]), { m: this.m, c: rate(this, true) });
  this.incrementIterations();
}

function rmspropApply(this: RmspropState, gradients: Gradients): void {
  const updates = updatesOf(gradients, (x, i) => [slot(this.accumulatedMeanSquares, i, x, 'rms'), slot(this.accumulatedMoments, i, x, 'momentum'), x]);
  update(this, 'rmsprop', updates, { d: rate(this, false) }, { a: this.decay, b: 1 - this.decay, c: this.momentum, e: this.epsilon });
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

let swapped = false;

/**
 * Puts TL's applyGradients in each class's place, once: the fused update where the backend has an
 * updater and the update is float32 (and not Nesterov momentum or centered RMSprop), the class's
 * own otherwise, with the optimizer's weight decay either way. The classes' dispose also drops the
 * learning rate's tensor.
 */
function swapClasses(): void {
  if (swapped) return;
  swapped = true;
  for (const { cls, fused, leaveToTfjs } of FUSED) {
    swapMethod(cls.prototype, 'applyGradients', (own) =>
      function (this: tf.Optimizer, gradients: Gradients) {
        if (fusable(gradients) && !(leaveToTfjs?.(this as never) ?? false)) return fused.call(this, gradients);
        decayBefore(this, gradients);
        return own.call(this, gradients);
      },
    );
    swapMethod(cls.prototype as unknown as { dispose(): void }, 'dispose', (own) =>
      function (this: object) {
        own.call(this);
        rates.get(this)?.tensor.dispose();
        rates.delete(this);
      },
    );
  }
}

/**
 * Fuses tf.train.adam, sgd, momentum and rmsprop's float32 updates on `backendName` with
 * `updater` (and Adam's betas with `scaler`, where given); anything else (and Nesterov momentum,
 * centered RMSprop) goes to the class's own.
 */
export function registerFusedOptimizers(backendName: string, updater: Updater, scaler?: Scaler): void {
  updaters.set(backendName, updater);
  if (scaler !== undefined) scalers.set(backendName, scaler);
  swapClasses();
}

/** Leaves `backendName`'s updates to tfjs's own. */
export function unregisterFusedOptimizers(backendName: string): void {
  updaters.delete(backendName);
  scalers.delete(backendName);
}
