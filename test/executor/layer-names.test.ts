/**
 * A model file's layer names are known only once it loads: a name it lacks in `freeze until`,
 * `unfreeze` or `lr` fails the run before training, naming the layer and the nearest one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import type { ExecutorEvent } from '../../src/executor/events.ts';
import { runPlan } from '../../src/executor/run.ts';
import { saveToDirectory } from '../../src/executor/zoo/tfjs-files.ts';

const root = join(import.meta.dirname, '..', '..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tl-layer-names-'));
  const input = tf.input({ shape: [32, 32, 3], name: 'image' });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'stem' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'down1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'down2' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x });
  await model.save(saveToDirectory(join(dir, 'net')));
  model.dispose();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(lines: string): Promise<{ error: unknown; events: ExecutorEvent['type'][] }> {
  const { plan, diagnostics } = compile(`use "${join(dir, 'net/model.json')}"\ndata "${join(root, 'examples/data/fashion-mini/train')}"\nepochs 1\n${lines}\n`);
  if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
  const events: ExecutorEvent['type'][] = [];
  const error = await runPlan(plan, { baseDir: dir, runDir: join(dir, 'state'), backend: 'wasm', onEvent: (e) => events.push(e.type) }).then(() => null, (err: unknown) => err);
  return { error, events };
}

describe("a model file's layer names", () => {
  it('fails before training on a name the model lacks, with the nearest one and the statement', async () => {
    for (const [lines, layer, near, line] of [
      ['freeze until "stme"', 'stme', "; did you mean 'stem'?", 4],
      ['phase tune unfreeze "down3" lr 1e-4', 'down3', "; did you mean 'down1' or 'down2'?", 4],
      ['phase tune unfreeze all lr 1e-4 lr "dwn2" 1e-5', 'dwn2', "; did you mean 'down2'?", 4],
      ['lr "conv_final" 1e-5', 'conv_final', '', 1],
    ] as const) {
      const { error, events } = await failure(lines);
      // A rate set before any phase has no statement of its own in the plan: the error points at the model.
      expect(error).toMatchObject({ code: 'unknown-layer', origin: { line } });
      expect((error as Error).message).toBe(`${join(dir, 'net/model.json')} has no layer '${layer}'${near}`);
      expect(events).not.toContain('jobStarted');
    }
  });

  it('runs when every name is the model\'s own', async () => {
    const { error, events } = await failure('freeze until "stem"\nphase tune unfreeze "stem" lr 1e-4 lr "down2" 1e-5 epochs 1');
    expect(error).toBeNull();
    expect(events.at(-1)).toBe('jobFinished');
  });
});
