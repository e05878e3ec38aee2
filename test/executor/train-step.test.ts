/**
 * The batch a training step takes (its targets one-hot, or smoothed where the script says), and
 * the step's loss, each image weighted by its class where the data says `balance`.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { createRng } from '../../src/executor/augment/index.ts';
import { balancedWeights, imbalanceWarning } from '../../src/executor/class-weights.ts';
import { prepareInputs } from '../../src/executor/inputs.ts';
import { openPhase } from '../../src/executor/open-phase.ts';
import { prepareNetwork } from '../../src/executor/prepare.ts';
import { stepBatch, trainStep } from '../../src/executor/train-step.ts';

const root = join(import.meta.dirname, '..', '..');

/** The targets of the first 8 training images, under `extra` statements, on the real fashion-mini images. */
async function targets(extra: string): Promise<number[][]> {
  const { plan, diagnostics } = compile(`use tiny input 32\ndata "${join(root, 'examples/data/fashion-mini/train')}" split 0.25\nfreeze all\n${extra}`);
  if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
  const { data, net } = await prepareNetwork(plan, plan.data!, { baseDir: root, backend: 'wasm' }, () => {});
  const inputs = await prepareInputs(net, data, plan, net.base.preprocess, { cacheBytes: 0, target: null });
  try {
    const idx = Int32Array.from({ length: 8 }, (_, i) => i);
    const batch = stepBatch({ inputs, set: data.train, idx, classes: data.classes.length, plan, rng: createRng(plan.seed), preprocess: net.base.preprocess });
    const y = (await batch.y.array()) as number[][];
    tf.dispose([batch.x, batch.y]);
    expect(data.classes).toHaveLength(10);
    return y;
  } finally {
    inputs.dispose();
    net.full.dispose();
  }
}

describe('stepBatch targets', () => {
  it('are one-hot without label smoothing', async () => {
    for (const row of await targets('')) expect([...row].sort()).toEqual([...Array(9).fill(0), 1]);
  }, 60_000);

  it('put 1 - s + s/K on the class and s/K on every other with label smoothing s', async () => {
    const plain = await targets('');
    const smoothed = await targets('label smoothing 0.2');
    smoothed.forEach((row, i) => {
      const at = plain[i]!.indexOf(1);
      row.forEach((v, k) => expect(v).toBeCloseTo(k === at ? 0.8 + 0.02 : 0.02, 6));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    });
  }, 60_000);
});

describe('balance: each image\'s loss weighted by its class', () => {
  it('weights classes N / (K n_c), 0 for a class with no image', () => {
    expect(Array.from(balancedWeights({ labels: Int32Array.of(0, 0, 0, 1) }, 3))).toEqual([Math.fround(4 / 9), Math.fround(4 / 3), 0]);
    expect(imbalanceWarning({ labels: Int32Array.of(0, 0, 0, 0, 1) }, ['cat', 'dog'])).toBeNull();
    expect(imbalanceWarning({ labels: Int32Array.from([...Array(600).fill(0), ...Array(12).fill(1)]) }, ['cat', 'dog'])).toBe(
      "the training images are imbalanced: 'cat' has 600 and 'dog' 12 (50 to 1); add 'balance' to the data statement to weight the loss so that each class counts the same",
    );
  });

  /** A manifest of 30 bags and 5 boots from fashion-mini: 6 to 1. */
  function lopsided(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tl-balance-'));
    const rows = (cls: string, n: number) => readdirSync(join(root, 'examples/data/fashion-mini/train', cls)).slice(0, n).map((f) => `${join(root, 'examples/data/fashion-mini/train', cls, f)},${cls}`);
    writeFileSync(join(dir, 'm.csv'), ['path,label', ...rows('bag', 30), ...rows('boot', 5)].join('\n'));
    return join(dir, 'm.csv');
  }

  it('a step\'s loss is the mean of each row\'s cross-entropy times its class\'s weight; a lopsided set without balance warns', async () => {
    const csv = lopsided();
    for (const balance of [true, false]) {
      const { plan } = compile(`use tiny input 32\ndata "${csv}" val "${csv}"${balance ? ' balance' : ''}\nfreeze all\nlr 1e-9`);
      const warnings: string[] = [];
      const { backend, data, net } = await prepareNetwork(plan!, plan!.data!, { baseDir: root, backend: 'wasm' }, (m) => warnings.push(m));
      expect(warnings.some((w) => w.startsWith("the training images are imbalanced: 'bag' has 30 and 'boot' 5 (6 to 1)"))).toBe(!balance);
      // As a run opens its phase: the base frozen (its BatchNorms in inference mode), the weights made where the data says balance.
      const open = await openPhase(net, data, plan!, plan!.phases[0]!, { backend, lr: 1e-9, cacheBytes: 0, warn: () => {} });
      try {
        expect(open.classWeights === null).toBe(!balance);
        const idx = Int32Array.from({ length: 35 }, (_, i) => i);
        const batch = stepBatch({ inputs: open.inputs, set: data.train, idx, classes: 2, plan: plan!, rng: createRng(1), preprocess: net.base.preprocess });
        const p = (await (net.full.predict(batch.x) as tf.Tensor).array()) as number[][];
        const expected = p.reduce((sum, row, i) => {
          const c = data.train.labels[i]!;
          return sum - Math.log(row[c]!) * (balance ? [35 / 60, 35 / 10][c]! : 1);
        }, 0) / 35;
        const step = trainStep({ model: open.model, idx, optimizers: open.optimizers, adapt: null, classWeights: open.classWeights }, batch);
        const [loss] = await step.data();
        expect(loss).toBeCloseTo(expected, 4);
        tf.dispose([batch.x, batch.y, step]);
      } finally {
        open.close();
        net.full.dispose();
      }
    }
  }, 60_000);
});

describe('clip: the step\'s gradients clipped before the update', () => {
  /** One plain SGD step (lr 1, so each weight moves by minus its gradient) on the same 16 images; the head's weights' moves and the step's scalars. */
  async function step(clip: string): Promise<{ moves: Float32Array; scalars: Float32Array }> {
    const { plan, diagnostics } = compile(`use tiny input 32\ndata "${join(root, 'examples/data/fashion-mini/train')}" split 0.25\nfreeze all\noptimizer sgd momentum 0\nlr 1\n${clip}`);
    if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
    const { backend, data, net } = await prepareNetwork(plan, plan.data!, { baseDir: root, backend: 'wasm' }, () => {});
    const phase = plan.phases[0]!;
    const open = await openPhase(net, data, plan, phase, { backend, lr: 1, cacheBytes: 0, warn: () => {} });
    try {
      const weights = () => Promise.all(open.model.trainableWeights.map((w) => w.read().data() as Promise<Float32Array>));
      const before = await weights();
      const idx = Int32Array.from({ length: 16 }, (_, i) => i);
      const batch = stepBatch({ inputs: open.inputs, set: data.train, idx, classes: 10, plan, rng: createRng(1), preprocess: net.base.preprocess });
      const out = trainStep({ model: open.model, idx, optimizers: open.optimizers, adapt: null, clip: phase.clip }, batch);
      const scalars = (await out.data()) as Float32Array;
      tf.dispose([batch.x, batch.y, out]);
      const after = await weights();
      return { moves: Float32Array.from(after.flatMap((w, i) => Array.from(w, (v, k) => v - before[i]![k]!))), scalars };
    } finally {
      open.close();
      net.full.dispose();
    }
  }
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

  it('by norm: every gradient scaled by max / their global norm where it is above max, and that norm reported', async () => {
    const plain = await step('');
    const full = norm(plain.moves);
    expect(plain.scalars).toHaveLength(2);
    const clipped = await step(`clip norm ${full / 4}`);
    expect(clipped.scalars).toHaveLength(3);
    expect(clipped.scalars[2]).toBeCloseTo(full, 3);
    expect(norm(clipped.moves)).toBeCloseTo(full / 4, 3);
    clipped.moves.forEach((m, i) => expect(m).toBeCloseTo(plain.moves[i]! / 4, 5));
    // A norm below max: the step as it was.
    const loose = await step(`clip norm ${full * 2}`);
    loose.moves.forEach((m, i) => expect(m).toBeCloseTo(plain.moves[i]!, 6));
  }, 60_000);

  it('by value: each gradient value clamped to ±max', async () => {
    const plain = await step('');
    const max = Math.max(...plain.moves.map(Math.abs)) / 3;
    const clipped = await step(`clip value ${max}`);
    expect(clipped.scalars).toHaveLength(2);
    clipped.moves.forEach((m, i) => expect(m).toBeCloseTo(Math.max(-max, Math.min(max, plain.moves[i]!)), 5));
    expect(clipped.moves.filter((m) => Math.abs(Math.abs(m) - max) < 1e-6).length).toBeGreaterThan(0);
  }, 60_000);
});
