/**
 * Adam, SGD, momentum and RMSprop updates in few dispatches, for tfjs's own optimizers on webgpu
 * (the optimizers' side, shared with wasm: ../fused-optimizers.ts).
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
 * so the next step's dispatches bind what this step's did (bind-group-cache.ts). The arithmetic is
 * tfjs's, in its order.
 */
import * as tf from '@tensorflow/tfjs';
import { CONSTANTS, type Constants, type RuleName, type Scaler, type Updater } from '../fused-optimizers.ts';
import { sizeOf, webgpuBackendOf } from './backend.ts';
import { writableInPlace } from './in-place.ts';
import { runMultiOutput, type MultiOutputProgram } from './multi-output.ts';

/**
 * {`shared` inputs of the rule, then each variable's gradient suffixed with its place in the pack
 * (g0, g1, ...), then each of the rule's `state` so suffixed (x0, x1, ... last)}, attrs {rule, count,
 * a, b, c, d, e, f, w}: one dispatch updating `count` variables and their state in place (in-place.ts
 * makes their buffers their own first). It returns nothing.
 */
export const OPTIMIZER_UPDATE = 'TLOptimizerUpdate';

/**
 * An update rule: per variable, its `state`, read and written in place (the optimizer's slots,
 * then the variable `x` itself), beside its gradient `g`, read only; `shared`, the optimizer's own
 * scalar tensors, read at [0]; `body`, WGSL for element `i` of one variable whose buffers `n`
 * names. `uniforms.a` to `uniforms.f` are the optimizer's numbers; `uniforms.w` is the weight decay
 * of the variables in the pack (0 where they do not decay), each rule's x shrunk by 1 - lr w.
 */
interface Rule {
  readonly state: readonly string[];
  readonly shared: readonly string[];
  body(n: Readonly<Record<string, string>>): string;
}

const RULES = {
  // SGD: x' = c g + x, with c the optimizer's own scalar -lr.
  sgd: { state: ['x'], shared: ['c'], body: (n) => `${n.x}[i] = c[0] * ${n.g}[i] + ${n.x}[i] * (1.0 + c[0] * uniforms.w);` },
  // Momentum: a' = m a + g, x' = c a' + x, with m and c (-lr) the optimizer's own scalars.
  momentum: {
    state: ['acc', 'x'],
    shared: ['m', 'c'],
    body: (n) => `let a = m[0] * ${n.acc}[i] + ${n.g}[i];
    ${n.acc}[i] = a;
    ${n.x}[i] = c[0] * a + ${n.x}[i] * (1.0 + c[0] * uniforms.w);`,
  },
  // Adam: m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g^2,
  // x' = (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + epsilon) * f + x, with k = [1 - b1^t, 1 - b2^t] and f = -lr.
  adam: {
    state: ['m', 'v', 'x'],
    shared: ['k', 'f'],
    body: (n) => `let gi = ${n.g}[i];
    let mi = uniforms.a * ${n.m}[i] + uniforms.b * gi;
    let vi = uniforms.c * ${n.v}[i] + uniforms.d * (gi * gi);
    ${n.m}[i] = mi;
    ${n.v}[i] = vi;
    ${n.x}[i] = ((mi / k[0]) / (sqrt(vi / k[1]) + uniforms.e)) * f[0] + ${n.x}[i] * (1.0 + f[0] * uniforms.w);`,
  },
  // RMSprop: ms' = rho ms + (1 - rho) g^2, p' = momentum p + g d / sqrt(ms' + epsilon), x' = x - p', with d = lr.
  rmsprop: {
    state: ['ms', 'mom', 'x'],
    shared: ['d'],
    body: (n) => `let gi = ${n.g}[i];
    let s = uniforms.a * ${n.ms}[i] + uniforms.b * (gi * gi);
    let p = uniforms.c * ${n.mom}[i] + (gi * d[0]) / sqrt(s + uniforms.e);
    ${n.ms}[i] = s;
    ${n.mom}[i] = p;
    ${n.x}[i] = ${n.x}[i] * (1.0 - d[0] * uniforms.w) - p;`,
  },
} satisfies Record<RuleName, Rule>;

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

/** Runs `updates` of `rule` in packs, one dispatch each, writing into every target's own buffer. */
export const webgpuUpdater: Updater = (name, updates, shared, constants) => {
  const rule: Rule = RULES[name];
  const backend = webgpuBackendOf(tf.backend());
  const per = packSize(rule, backend.device);
  for (let start = 0; start < updates.length; start += per) {
    const pack = updates.slice(start, start + per);
    const inputs: tf.NamedTensorMap = { ...shared };
    pack.forEach((u, j) => {
      inputs[`g${j}`] = u.gradient;
      u.targets.forEach((v, q) => (inputs[`${rule.state[q]}${j}`] = writableInPlace(backend, v)));
    });
    tf.engine().runKernel(OPTIMIZER_UPDATE, inputs, { rule: name, count: pack.length, ...constants });
  }
};

/** The program multiplying `count` variables by their factors in place (kept with the update packs). */
function scaleProgram(count: number): MultiOutputProgram {
  const key = `tlScale_${count}`;
  let program = programs.get(key);
  if (program === undefined) {
    const places = Array.from({ length: count }, (_, j) => j);
    program = {
      key,
      inputs: [],
      outputs: places.map((j) => `x${j}`),
      uniforms: places.map((j) => `f${j} : f32, n${j} : i32,`).join(' '),
      body: places.map((j) => `if (index < uniforms.n${j}) { x${j}[index] = uniforms.f${j} * x${j}[index]; }`).join('\n  '),
    };
    programs.set(key, program);
  }
  return program;
}

/** Scales the variables in their own buffers, all in one dispatch (Adam's two betas). */
export const webgpuScaler: Scaler = (targets) => {
  if (targets.length === 0) return;
  const backend = webgpuBackendOf(tf.backend());
  const written = targets.map((t) => writableInPlace(backend, t.variable));
  const uniforms = targets.flatMap((t) => [{ type: 'float32' as const, data: [t.factor] }, { type: 'int32' as const, data: [t.variable.size] }]);
  runMultiOutput(backend, scaleProgram(targets.length), [], written, Math.max(...written.map((v) => v.size)), uniforms);
};
