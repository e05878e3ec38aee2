import type { Model, Target, Weights } from '../../../src/plan/schema.ts';

const origin = { start: 0, end: 0, line: 1, column: 1 };

/** A plan `model` node for a zoo network. */
export function zoo(name: string, input: number, options: { weights?: Weights; cut?: Target } = {}): Model {
  return { kind: 'zoo', name, input, weights: options.weights ?? { kind: 'none' }, cut: options.cut ?? null, origin };
}

/** A plan `model` node for a user's model.json. */
export function userModel(path: string, options: { input?: number; weights?: Weights; cut?: Target } = {}): Model {
  return { kind: 'file', path, input: options.input ?? null, weights: options.weights ?? { kind: 'own' }, cut: options.cut ?? null, origin }; // 'own': what the compiler writes for `use "path"`
}
