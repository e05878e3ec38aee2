/**
 * Early stopping and `checkpoint best`: the monitored metric, the patience, the best weights put
 * back, and a real run of each on fashion-mini.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { earlyStopper, improvement } from '../../src/executor/early-stop.ts';
import type { EpochMetrics, ExecutorEvent } from '../../src/executor/events.ts';
import { fashionMini, planOf, run, tempDir } from './adapt/helpers.ts';

const epoch = (valLoss: number, valAccuracy: number): EpochMetrics => ({ loss: 1, accuracy: 0.5, valLoss, valAccuracy, valTop5: null });
const script = (extra: string, epochs = 3) => `use tiny input 32\ndata "${join(fashionMini, 'train')}" split 0.25\nfreeze none\nepochs ${epochs}\nbatch 32\n${extra}`;

describe('early stopping', () => {
  it('improves only on a better score of its own monitor, never on one that is not a number', () => {
    const byLoss = improvement('val_loss');
    expect([epoch(2, 0.1), epoch(3, 0.9), epoch(Number.NaN, 0.9), epoch(1.5, 0.2), epoch(1.5, 0.3)].map(byLoss)).toEqual([true, false, false, true, false]);
    const byAccuracy = improvement('val_accuracy');
    expect([epoch(2, 0.1), epoch(3, 0.9), epoch(1, 0.5)].map(byAccuracy)).toEqual([true, true, false]);
  });

  it('stops after `patience` epochs without a better one and puts the best weights back', () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    const stop = earlyStopper(planOf(script('early stop patience 2 monitor val_accuracy')));
    const values = () => model.getWeights().map((w) => Array.from(w.dataSync()));
    const set = (v: number) => model.setWeights(model.getWeights().map((w) => tf.fill(w.shape, v)));
    set(1);
    expect(stop.observe(epoch(1, 0.5), model)).toBe(true);
    set(2);
    expect(stop.observe(epoch(0.5, 0.7), model)).toBe(true);
    const best = values();
    set(3);
    expect(stop.observe(epoch(0.4, 0.6), model)).toBe(false);
    expect(stop.shouldStop()).toBe(false);
    set(4);
    expect(stop.observe(epoch(0.3, 0.7), model)).toBe(false);
    expect(stop.shouldStop()).toBe(true);
    expect(stop.finish(model)).toEqual(epoch(0.5, 0.7));
    expect(values()).toEqual(best);
  });

  it('keeps copies of the weights that train and shares the frozen ones', () => {
    const frozen = tf.layers.dense({ units: 100, inputShape: [100], trainable: false });
    const model = tf.sequential({ layers: [frozen, tf.layers.dense({ units: 2 })] });
    const stop = earlyStopper(planOf(script('early stop patience 2')));
    const before = tf.memory().numDataBuffers;
    stop.observe(epoch(1, 0.5), model);
    // The trainable layer's kernel and biases copied into data of their own; the frozen layer's shared.
    expect(tf.memory().numDataBuffers - before).toBe(2);
    stop.finish(model);
  });

  it('runs with `early stop` alone, and saves `checkpoint best` on its own monitor', async () => {
    const dir = await tempDir('tl-early-');
    // Before, a plan with `early stop` and no `checkpoint` failed with an internal error.
    const alone = await run(planOf(script('early stop patience 1')), join(dir, 'alone'));
    expect(alone.events.at(-1)!.type).toBe('jobFinished');

    const { events } = await run(planOf(script('early stop patience 6 monitor val_loss\ncheckpoint best monitor val_accuracy', 6)), join(dir, 'both'));
    const epochs = events.flatMap((e) => (e.type === 'epochEnded' ? [e] : []));
    expect(epochs).toHaveLength(6);
    // A checkpoint at each epoch whose validation accuracy beat every one before it.
    let bestAccuracy = -1;
    const improved = epochs.filter((e) => (e.metrics.valAccuracy! > bestAccuracy ? ((bestAccuracy = e.metrics.valAccuracy!), true) : false)).map((e) => e.epoch);
    const saved = events.flatMap((e) => (e.type === 'checkpointSaved' ? [e.epoch] : []));
    expect(saved).toEqual(improved);
    // The phase's best epoch is early stopping's: the lowest validation loss.
    const ended = events.find((e): e is Extract<ExecutorEvent, { type: 'phaseEnded' }> => e.type === 'phaseEnded')!;
    expect(ended.best!.valLoss).toBe(Math.min(...epochs.map((e) => e.metrics.valLoss!)));
  }, 120_000);
});
