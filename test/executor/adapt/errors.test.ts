import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExecutorEvent } from '../../../src/executor/events.ts';
import { saveToDirectory } from '../../../src/executor/zoo/index.ts';
import { fashionMini, planOf, run, tempDir } from './helpers.ts';

async function failure(source: string, runDir: string): Promise<Extract<ExecutorEvent, { type: 'jobFailed' }>> {
  const events: ExecutorEvent[] = [];
  await expect(run(planOf(source), runDir, (e) => events.push(e))).rejects.toThrow();
  const last = events.at(-1);
  if (last?.type !== 'jobFailed') throw new Error(`expected jobFailed, got ${last?.type}`);
  return last;
}

describe('adapt: bad input fails with a code and the adapt statement’s origin', () => {
  let dir: string;
  const script = (adapt: string, model = 'use tiny input 32') => `${model}\ndata "${join(fashionMini, 'train')}"\nepochs 1\n${adapt}`;
  beforeAll(async () => {
    dir = await tempDir();
  });

  it('a missing target folder', async () => {
    const e = await failure(script(`adapt coral target "${join(dir, 'nowhere')}"`), join(dir, 'r1'));
    expect(e).toMatchObject({ code: 'adapt-target-not-found', origin: { line: 4, column: 1 } });
    expect(e.message).toContain('nowhere');
  });

  it('an empty target folder', async () => {
    await mkdir(join(dir, 'empty'), { recursive: true });
    const e = await failure(script(`adapt dann target "${join(dir, 'empty')}"`), join(dir, 'r2'));
    expect(e).toMatchObject({ code: 'adapt-target-empty', origin: { line: 4 } });
  });

  it('a target folder whose images cannot be read', async () => {
    await mkdir(join(dir, 'broken'), { recursive: true });
    await writeFile(join(dir, 'broken', 'a.png'), 'not a png');
    await writeFile(join(dir, 'broken', 'b.jpg'), 'not a jpeg');
    const e = await failure(script(`adapt pseudolabel target "${join(dir, 'broken')}"`), join(dir, 'r3'));
    expect(e).toMatchObject({ code: 'adapt-target-unreadable', origin: { line: 4 } });
  });

  it('adabn on a model with no BatchNorm (a user model, unknown at compile time)', async () => {
    const input = tf.input({ shape: [32, 32, 3] });
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu', name: 'c1' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: conv });
    await model.save(saveToDirectory(join(dir, 'nobn')));
    const e = await failure(script(`adapt adabn target "${join(fashionMini, 'test')}"`, `use "${join(dir, 'nobn', 'model.json')}"`), join(dir, 'r4'));
    expect(e).toMatchObject({ code: 'adapt-no-batchnorm', origin: { line: 4 } });
  });
});
