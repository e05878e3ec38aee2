/**
 * Adam and SGD updates in few passes, for tfjs's own optimizers on webgpu.
 *
 * tfjs 4.22's Adam updates each variable with 14 elementwise ops, and six of their operands are
 * JavaScript numbers (beta1, 1 - beta1, beta2, 1 - beta2, epsilon, -lr), each made a scalar tensor
 * and uploaded through a new staging buffer on every step: fine-tuning all of ResNet50 (214
 * variables) costs about 3,000 dispatches and 1,300 uploads a step for the optimizer alone. Here
 * Adam is three passes per variable (the two moments, then the value) and SGD one, with the
 * constants as uniforms. The optimizers keep their own state (moments, accumulated betas,
 * iterations) exactly as tfjs lays it out, so checkpoints and getWeights are unchanged, and the
 * arithmetic is tfjs's, in its order.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, runProgram, webgpuBackendOf } from './backend.ts';

/** {...inputs of the rule}, attrs {rule, a, b}: one elementwise update (RULES). */
export const OPTIMIZER_UPDATE = 'TLOptimizerUpdate';

/** The update rules; `a` and `b` are uniforms, one-element inputs are read at [0]. */
const RULES = {
  // m' = beta1 m + (1 - beta1) g
  adamFirstMoment: { inputs: ['m', 'g'], expression: 'uniforms.a * m[index] + uniforms.b * g[index]' },
  // v' = beta2 v + (1 - beta2) g^2
  adamSecondMoment: { inputs: ['v', 'g'], expression: 'uniforms.a * v[index] + uniforms.b * (g[index] * g[index])' },
  // x' = (m' / (1 - beta1^t)) / (sqrt(v' / (1 - beta2^t)) + epsilon) * -lr + x
  adamValue: { inputs: ['x', 'm', 'v', 'c1', 'c2'], expression: '((m[index] / c1[0]) / (sqrt(v[index] / c2[0]) + uniforms.a)) * uniforms.b + x[index]' },
  // x' = -lr g + x, with -lr the optimizer's own scalar c
  sgd: { inputs: ['x', 'g', 'c'], expression: 'c[0] * g[index] + x[index]' },
} as const;
type Rule = keyof typeof RULES;

class UpdateProgram extends FlatProgram {
  readonly variableNames: string[];
  readonly uniforms = 'a : f32, b : f32,';
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
  const { rule, a, b } = attrs as unknown as { rule: Rule; a: number; b: number };
  const ordered = RULES[rule].inputs.map((name) => {
    const t = inputs[name];
    if (t === undefined) throw new Error(`${OPTIMIZER_UPDATE} (${rule}) needs ${name}`);
    return t;
  });
  return runProgram(webgpuBackendOf(backend), new UpdateProgram(rule, ordered[0]!.shape), ordered, [
    { type: 'float32', data: [a] },
    { type: 'float32', data: [b] },
  ]);
};

function update(rule: Rule, inputs: tf.NamedTensorMap, a = 0, b = 0): tf.Tensor {
  return tf.engine().runKernel(OPTIMIZER_UPDATE, inputs, { rule, a, b }) as tf.Tensor;
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
  readonly accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  readonly accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
  incrementIterations(): void;
}
interface SgdState {
  readonly c: tf.Scalar;
  incrementIterations(): void;
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
      // As tfjs: the moments are created on first use, in the gradients' order.
      this.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(x).variable(false)) };
      this.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(x).variable(false)) };
      if (gradient == null) return;
      const m = this.accumulatedFirstMoment[i]!.variable;
      const v = this.accumulatedSecondMoment[i]!.variable;
      const m2 = update('adamFirstMoment', { m, g: gradient }, this.beta1, 1 - this.beta1);
      const v2 = update('adamSecondMoment', { v, g: gradient }, this.beta2, 1 - this.beta2);
      m.assign(m2);
      v.assign(v2);
      x.assign(update('adamValue', { x, m: m2, v: v2, c1, c2 }, this.epsilon, -this.learningRate));
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
    tf.tidy(() => x.assign(update('sgd', { x, g: gradient, c: this.c })));
  }
  this.incrementIterations();
}

const FUSED: readonly { cls: { prototype: { applyGradients: ApplyGradients } }; fused: ApplyGradients }[] = [
  { cls: tf.AdamOptimizer as unknown as { prototype: { applyGradients: ApplyGradients } }, fused: adamApply as unknown as ApplyGradients },
  { cls: tf.SGDOptimizer as unknown as { prototype: { applyGradients: ApplyGradients } }, fused: sgdApply as unknown as ApplyGradients },
];

/** The classes' own applyGradients, while TL's are in their place. */
const stock = new Map<object, ApplyGradients>();

/**
 * Puts the fused updates in tf.train.adam and tf.train.sgd (plain SGD: tfjs's momentum optimizer is
 * a subclass with its own applyGradients, left as it is) for float32 updates on webgpu; anything
 * else goes to the class's own. `restoreOptimizers` puts those back.
 */
export function patchOptimizers(): void {
  for (const { cls, fused } of FUSED) {
    if (stock.has(cls)) continue;
    const own = cls.prototype.applyGradients;
    stock.set(cls, own);
    cls.prototype.applyGradients = function (this: tf.Optimizer, gradients: Gradients) {
      return stock.has(cls) && fusable(gradients) ? fused.call(this, gradients) : own.call(this, gradients);
    };
  }
}

/** Restores tfjs's own applyGradients. */
export function restoreOptimizers(): void {
  for (const { cls } of FUSED) {
    const own = stock.get(cls);
    if (own !== undefined) cls.prototype.applyGradients = own;
    stock.delete(cls);
  }
}
