/**
 * The learning-rate range test on real images (the tiny model on fashion-mini, wasm): rates rise
 * geometrically from `from` to `to`, a loss per step, suggestions inside the range, nothing left.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { findLearningRate } from '../../src/executor/lr-find.ts';

const root = join(import.meta.dirname, '..', '..');

function planOf(source: string) {
  const { plan, diagnostics } = compile(source);
  if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return plan;
}

const plan = planOf(`use tiny input 32\ndata "${join(root, 'examples/data/fashion-mini/train')}" split 0.2\nfreeze none\nbatch 16\nphase tune lr 1e-4 lr block5 1e-5\n`);

describe('findLearningRate', () => {
  it('takes its steps at rates rising geometrically, and suggests rates inside the range', async () => {
    const found = await findLearningRate(plan, { baseDir: root, backend: 'wasm', steps: 30, from: 1e-5, to: 1 });
    expect(found).toMatchObject({ phase: 'warmup', backend: 'wasm', batch: 16 });
    const { points } = found;
    expect(points.length).toBe(found.diverged ? points.length : 30);
    expect(points[0]!.lr).toBeCloseTo(1e-5, 12);
    const ratio = (1 / 1e-5) ** (1 / 29);
    points.slice(1).forEach((p, i) => expect(p.lr / points[i]!.lr).toBeCloseTo(ratio, 9));
    if (!found.diverged) expect(points.at(-1)!.lr).toBeCloseTo(1, 9);
    for (const p of points.slice(0, -1)) expect(Number.isFinite(p.loss) && Number.isFinite(p.smoothed)).toBe(true);
    // The first smoothed loss is the first loss; later ones average.
    expect(points[0]!.smoothed).toBeCloseTo(points[0]!.loss, 6);
    for (const s of [found.steepest, found.tenthOfMinimum]) {
      if (s !== null) expect(s >= 1e-6 && s <= 1).toBe(true);
    }
    expect(found.steepest ?? found.tenthOfMinimum).not.toBeNull();
  }, 60_000);

  it('runs a named phase, leaves no tensor behind, and refuses a phase the plan lacks', async () => {
    const before = tf.memory().numTensors;
    const found = await findLearningRate(plan, { baseDir: root, backend: 'wasm', phase: 'tune', steps: 5, from: 1e-4, to: 1e-2 });
    expect(found.phase).toBe('tune');
    expect(found.after).toEqual(['warmup']);
    expect(found.points).toHaveLength(5);
    expect(tf.memory().numTensors).toBe(before);
    await expect(findLearningRate(plan, { baseDir: root, phase: 'nope' })).rejects.toThrow("no phase named 'nope'; the phases are 'warmup', 'tune'");
    // An adaptation's loss term is not part of the search, and the search says so.
    const warnings: string[] = [];
    const adapted = planOf(`use tiny input 32\ndata "${join(root, 'examples/data/fashion-mini/train')}"\nfreeze none\nbatch 16\nadapt coral target "${join(root, 'examples/data/fashion-mini/dim')}"\n`);
    await findLearningRate(adapted, { baseDir: root, backend: 'wasm', steps: 3, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual(["the search trains on the labelled data alone: 'adapt coral' is left out"]);
  }, 60_000);

  it('searches a later phase from the weights the phases before leave, or from the start where asked', async () => {
    const events: string[] = [];
    const after = await findLearningRate(plan, { baseDir: root, backend: 'wasm', phase: 'tune', steps: 3, from: 1e-6, to: 1e-5, onEvent: (e) => events.push(e.type) });
    const fresh = await findLearningRate(plan, { baseDir: root, backend: 'wasm', phase: 'tune', steps: 3, from: 1e-6, to: 1e-5, fromStart: true });
    expect([after.after, fresh.after]).toEqual([['warmup'], []]);
    // The phase before trained its 5 epochs (and saved the checkpoint the search starts from).
    expect(events.filter((t) => t === 'epochEnded')).toHaveLength(5);
    expect(events.filter((t) => t === 'checkpointSaved')).toHaveLength(1);
    // At rates too small to move anything, the loss is the network's as it starts: lower after training.
    expect(after.points[0]!.loss).toBeLessThan(0.8 * fresh.points[0]!.loss);
  }, 120_000);
});
