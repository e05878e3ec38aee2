import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { epochs, fashionMini, planOf, run, shiftedCopy, tempDir, washedOut } from './helpers.ts';

function variables(): Map<string, Float32Array> {
  const vars = Object.values((tf.engine() as unknown as { registeredVariables: Record<string, tf.Variable> }).registeredVariables);
  return new Map(vars.map((v) => [v.name, (v.dataSync() as Float32Array).slice()]));
}

describe('adapt adabn (tiny model, wasm)', () => {
  let dir: string;
  let target: string;
  beforeAll(async () => {
    dir = await tempDir();
    // Low contrast, brighter: a per-channel affine shift that target BatchNorm statistics undo.
    target = await shiftedCopy(join(fashionMini, 'test'), join(dir, 'target'), washedOut);
  });
  const script = (adapt: string) => `use tiny input 32
data "${join(fashionMini, 'train')}"
freeze none
epochs 4
batch 32
lr 3e-3
seed 3
${adapt}
evaluate "${target}"`;

  it('swaps in target statistics after training and changes nothing else', async () => {
    let before = new Map<string, Float32Array>();
    let after = new Map<string, Float32Array>();
    const { metrics, events } = await run(planOf(script(`adapt adabn target "${target}"`)), join(dir, 'a'), (e) => {
      if (e.type === 'phaseEnded') before = variables();
      // The network is disposed once the run ends: read it at its last event.
      if (e.type === 'jobFinished') after = variables();
    });
    // The summary's validation is the source-domain model's, as in the last epoch, not the target-adapted one's.
    expect(metrics.valAccuracy).toBeCloseTo(epochs(events).at(-1)!.metrics.valAccuracy!, 6);
    // The network's own variables (optimizer slots come and go with phases).
    for (const name of before.keys()) if (!after.has(name) || !/^(block\d|head)_/.test(name)) before.delete(name);
    expect(before.size).toBeGreaterThan(20);
    const changed = [...before].filter(([name, v]) => !Buffer.from(v.buffer).equals(Buffer.from(after.get(name)!.buffer))).map(([name]) => name);
    const bnStats = [...before.keys()].filter((n) => /block\d_bn\/moving_(mean|variance)/.test(n));
    expect(bnStats).toHaveLength(10);
    expect(changed.sort()).toEqual(bnStats.sort());
    expect(metrics.testAccuracy).not.toBeNull();
  }, 120_000);

  it('clearly beats source-only on the washed-out shift', async () => {
    const sourceOnly = await run(planOf(script('')), join(dir, 's'));
    const adapted = await run(planOf(script(`adapt adabn target "${target}"`)), join(dir, 'b'));
    // Measured: source-only about 0.1 (chance), AdaBN about 0.6.
    expect(adapted.metrics.testAccuracy!).toBeGreaterThan(sourceOnly.metrics.testAccuracy! + 0.25);
  }, 120_000);

  it("'at phase' adapts after every phase and re-estimates source statistics before the next", async () => {
    const plan = planOf(script(`adapt adabn at phase target "${target}"\nphase two epochs 1 lr 1e-3`));
    const phaseEndVal: (number | null)[] = [];
    const { metrics, events } = await run(plan, join(dir, 'c'), (e) => {
      if (e.type === 'phaseEnded') phaseEndVal.push(e.best?.valAccuracy ?? null);
    });
    expect(events.filter((e) => e.type === 'phaseEnded')).toHaveLength(2);
    expect(metrics.testAccuracy!).toBeGreaterThan(0.3);
  }, 120_000);
});
