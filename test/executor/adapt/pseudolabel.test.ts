import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { confidentRows } from '../../../src/executor/adapt/pseudolabel.ts';
import { epochs, fashionMini, planOf, run, shiftedCopy, tempDir } from './helpers.ts';

describe('adapt pseudolabel', () => {
  it('keeps rows whose top probability reaches the threshold', () => {
    const p = Float32Array.from([0.95, 0.05, 0.4, 0.6, 0.05, 0.95]);
    const c = confidentRows(p, 2, 0.9);
    expect(Array.from(c.rows)).toEqual([0, 2]);
    expect(Array.from(c.labels)).toEqual([0, 1, 1]);
  });

  let dir: string;
  let target: string;
  beforeAll(async () => {
    dir = await tempDir();
    // A mild shift: the source model stays confident on part of it.
    target = await shiftedCopy(join(fashionMini, 'test'), join(dir, 'target'), (i) => i.linear(0.95, 5));
  });

  // Short from-scratch training leaves BatchNorm's moving averages (momentum 0.99) far from the data, and inference-mode
  // predictions near uniform; batch 8 gives enough steps for them to settle and the model to be confident.
  it('adds self-training rounds as phases that fit the confident target images', async () => {
    const { events, metrics } = await run(planOf(`use tiny input 32
data "${join(fashionMini, 'train')}"
freeze none
epochs 6
batch 8
lr 3e-3
seed 1
adapt pseudolabel threshold 0.4 rounds 2 target "${target}"
evaluate "${target}"`), join(dir, 'a'));
    const started = events.find((e) => e.type === 'jobStarted');
    expect(started).toMatchObject({
      phases: [{ name: 'warmup', epochs: 6 }, { name: 'pseudolabel-1', epochs: 3 }, { name: 'pseudolabel-2', epochs: 3 }],
      adaptation: { method: 'pseudolabel', target, targetImages: 100 },
    });
    const rounds = epochs(events).filter((e) => e.phase > 0);
    expect(rounds).toHaveLength(6);
    expect(rounds.every((e) => e.metrics.pseudoLabels! > 0)).toBe(true);
    // The target term fits the pseudo-labels: its loss falls within a round.
    expect(rounds[1]!.metrics.adaptLoss!).toBeLessThan(rounds[0]!.metrics.adaptLoss!);
    expect(epochs(events).filter((e) => e.phase === 0).every((e) => e.metrics.adaptLoss === null)).toBe(true);
    expect(metrics.testAccuracy).not.toBeNull();
  }, 120_000);
});
