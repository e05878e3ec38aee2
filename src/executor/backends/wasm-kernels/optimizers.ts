/**
 * The optimizers' fused updates (../fused-optimizers.ts) on the wasm backend: one SIMD pass over
 * each variable, reading its gradient and state once, where tfjs chains 2 (SGD) to 14 (Adam)
 * elementwise ops, each a pass and a new tensor. The arithmetic is tfjs's, operation by operation
 * in float32 and in its order, so the new values are the ones tfjs's own ops compute, bit for bit.
 *
 * The optimizer's state slots are written in place. The variable's new value is not: it goes to
 * new memory, assigned to the variable as tfjs's update would. The wasm backend's convolutions
 * and products keep XNNPACK operators with their weights packed, cached by the weights' tensor
 * and dropped only when that tensor's memory is; a weight rewritten in place would leave every
 * later step computing with the old one.
 */
import * as tf from '@tensorflow/tfjs';
import type { RuleName, Updater } from '../fused-optimizers.ts';
import { alongChannels, channelBytes, onMemory, type FunctionSource, type ValueType } from './assemble.ts';
import { heapOf, memoryOf, writableInPlace } from './heap.ts';

/**
 * Pieces of a loop body, in its vector form (four floats, constants splatted into locals named
 * with a 4) or its scalar form: at the element at byte offset $o of each array.
 */
function pieces(vector: boolean) {
  const op = (name: string) => `${vector ? 'f32x4' : 'f32'}.${name}`;
  const at = (pointer: string) => `local.get $${pointer} local.get $o i32.add`;
  return {
    op,
    at,
    load: (pointer: string) => `${at(pointer)} ${vector ? 'v128.load' : 'f32.load'}`,
    store: vector ? 'v128.store' : 'f32.store',
    /** A constant parameter, or a local of the body (`t` for temporaries). */
    get: (name: string) => `local.get $${name}${vector ? '4' : ''}`,
    tee: (name: string) => `local.tee $${name}${vector ? '4' : ''}`,
    set: (name: string) => `local.set $${name}${vector ? '4' : ''}`,
  };
}

type Pieces = ReturnType<typeof pieces>;

interface RuleSource {
  /** The arrays after the gradient g, in the order the rule writes them (the variable x last, read from x and written to xo). */
  readonly state: readonly string[];
  /** The rule's numbers, float32 parameters after the arrays and the element count n. */
  readonly constants: readonly string[];
  /** What x is multiplied by before the update, 1 - lr w, from the rule's numbers (exactly 1 without weight decay, w 0). */
  keep(n: (name: string) => number): number;
  /** The temporaries the body keeps. */
  readonly temporaries: readonly string[];
  body(p: Pieces): string;
}

/** The rules as ../fused-optimizers.ts states them. */
const RULES: Record<RuleName, RuleSource> = {
  // x' = c g + x r, r = 1 - lr w (weight decay w)
  sgd: {
    state: ['x'],
    constants: ['c', 'r'],
    keep: (n) => 1 + n('c') * n('w'),
    temporaries: [],
    body: ({ op, at, load, store, get }) => `${at('xo')} ${get('c')} ${load('g')} ${op('mul')} ${load('x')} ${get('r')} ${op('mul')} ${op('add')} ${store}`,
  },
  // a' = m a + g, x' = c a' + x r
  momentum: {
    state: ['acc', 'x'],
    constants: ['m', 'c', 'r'],
    keep: (n) => 1 + n('c') * n('w'),
    temporaries: ['t'],
    body: ({ op, at, load, store, get, tee }) => `
      ${at('acc')} ${get('m')} ${load('acc')} ${op('mul')} ${load('g')} ${op('add')} ${tee('t')} ${store}
      ${at('xo')} ${get('c')} ${get('t')} ${op('mul')} ${load('x')} ${get('r')} ${op('mul')} ${op('add')} ${store}`,
  },
  // m' = m a + g b, v' = v c + g^2 d, x' = ((m' / k0) / (sqrt(v' / k1) + e)) f + x r
  adam: {
    state: ['m', 'v', 'x'],
    constants: ['a', 'b', 'c', 'd', 'e', 'f', 'k0', 'k1', 'r'],
    keep: (n) => 1 + n('f') * n('w'),
    temporaries: ['gi', 'mi', 'vi'],
    body: ({ op, at, load, store, get, tee, set }) => `
      ${load('g')} ${set('gi')}
      ${at('m')} ${load('m')} ${get('a')} ${op('mul')} ${get('gi')} ${get('b')} ${op('mul')} ${op('add')} ${tee('mi')} ${store}
      ${at('v')} ${load('v')} ${get('c')} ${op('mul')} ${get('gi')} ${get('gi')} ${op('mul')} ${get('d')} ${op('mul')} ${op('add')} ${tee('vi')} ${store}
      ${at('xo')}
        ${get('mi')} ${get('k0')} ${op('div')}
        ${get('vi')} ${get('k1')} ${op('div')} ${op('sqrt')} ${get('e')} ${op('add')}
        ${op('div')} ${get('f')} ${op('mul')} ${load('x')} ${get('r')} ${op('mul')} ${op('add')} ${store}`,
  },
  // ms' = ms a + g^2 b, p' = mom c + (g d) / sqrt(ms' + e), x' = x r - p'
  rmsprop: {
    state: ['ms', 'mom', 'x'],
    constants: ['a', 'b', 'c', 'd', 'e', 'r'],
    keep: (n) => 1 - n('d') * n('w'),
    temporaries: ['gi', 's', 't'],
    body: ({ op, at, load, store, get, tee, set }) => `
      ${load('g')} ${set('gi')}
      ${at('ms')} ${load('ms')} ${get('a')} ${op('mul')} ${get('gi')} ${get('gi')} ${op('mul')} ${get('b')} ${op('mul')} ${op('add')} ${tee('s')} ${store}
      ${at('mom')} ${load('mom')} ${get('c')} ${op('mul')} ${get('gi')} ${get('d')} ${op('mul')} ${get('s')} ${get('e')} ${op('add')} ${op('sqrt')} ${op('div')} ${op('add')} ${tee('t')} ${store}
      ${at('xo')} ${load('x')} ${get('r')} ${op('mul')} ${get('t')} ${op('sub')} ${store}`,
  },
};

function ruleFunction(name: RuleName): FunctionSource {
  const rule = RULES[name];
  const params: Record<string, ValueType> = { g: 'i32' };
  for (const s of rule.state) params[s] = 'i32';
  params['xo'] = 'i32';
  params['n'] = 'i32';
  for (const c of rule.constants) params[c] = 'f32';
  const locals: Record<string, ValueType> = { o: 'i32', bytes: 'i32', vbytes: 'i32' };
  for (const c of rule.constants) locals[`${c}4`] = 'v128';
  for (const t of rule.temporaries) Object.assign(locals, { [t]: 'f32', [`${t}4`]: 'v128' });
  const splats = rule.constants.map((c) => `local.get $${c} f32x4.splat local.set $${c}4`).join(' ');
  return { name, params, locals, body: `${splats} ${channelBytes('n')} ${alongChannels(rule.body(pieces(true)), rule.body(pieces(false)))}` };
}

type Update = (...args: number[]) => void;
const updates = onMemory<Record<RuleName, Update>>((Object.keys(RULES) as RuleName[]).map(ruleFunction));

/** The wasm backend's updater: one pass a variable. */
export const wasmUpdater: Updater = (name, list, shared, constants) => {
  const backend = tf.backend();
  const heap = heapOf(backend);
  const run = updates(memoryOf(backend).memory)[name];
  // The rule's numbers in its parameters' order: the optimizer's numbers, or its scalar tensors'
  // values (a tensor of several, as Adam's k, gives k0, k1, ...).
  const values = new Map<string, number>(Object.entries(constants));
  for (const [key, t] of Object.entries(shared)) {
    const held = heap.typedArrayFromHeap(t);
    held.forEach((v, i) => values.set(held.length === 1 ? key : `${key}${i}`, v));
  }
  const number = (c: string) => {
    const value = values.get(c);
    if (value === undefined) throw new Error(`the ${name} update needs ${c}`);
    return value;
  };
  values.set('r', RULES[name].keep(number));
  const numbers = RULES[name].constants.map(number);
  const address = (t: tf.TensorInfo) => heap.typedArrayFromHeap(t).byteOffset;
  for (const { gradient, targets } of list) {
    const x = targets.at(-1)!;
    const slots = targets.slice(0, -1).map(writableInPlace);
    const updated = heap.makeOutput(x.shape, 'float32');
    run(address(gradient), ...slots.map(address), address(x), address(updated), gradient.size, ...numbers);
    const value = tf.engine().makeTensorFromTensorInfo(updated);
    x.assign(value);
    value.dispose();
  }
};
