/**
 * A real run of a script through the executor on webgpu, as `tl run --backend webgpu` makes it:
 * TL's fused BatchNorm and activation gradients and its resampler inside runPlan's own training
 * step (augmentation, Adam, a frozen prefix in inference mode, phases), on real images, against the
 * same run on wasm. The GEMM tiles are tuned before each phase as on a GPU (TL_GEMM_TUNE=1).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { MASK_GRAD } from '../../src/executor/backends/webgpu/activation-grads.ts';
import { AFFINE_SAMPLE } from '../../src/executor/backends/webgpu/affine-sample.ts';
import { BN_FORWARD, BN_TRAINING_GRAD } from '../../src/executor/backends/batchnorm-training.ts';
import { measuredChoices } from '../../src/executor/backends/webgpu/gemm.ts';
import { OPTIMIZER_UPDATE } from '../../src/executor/backends/webgpu/optimizers.ts';
import type { ExecutorEvent, StepReplay, TileTuning } from '../../src/executor/events.ts';
import { runPlan } from '../../src/executor/run.ts';
import { webgpuEnv } from './webgpu-env.ts';

const root = join(import.meta.dirname, '..', '..');
const env = await webgpuEnv();

const SCRIPT = `
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block3
augment flip, rotate 10
epochs 3
batch 32
lr 3e-3
phase tune unfreeze block3 lr 1e-3 epochs 1
`;

interface Run {
  readonly losses: number[];
  /** Every epoch's metrics. */
  readonly metrics: unknown[];
  readonly valAccuracy: number;
  /** Each phase's report of its steps replayed, and of its products' tiles. */
  readonly replays: (StepReplay | null)[];
  readonly tiles: (TileTuning | null)[];
  readonly kernels: Set<string>;
  readonly updates: number;
}

async function run(backend: 'webgpu' | 'wasm', script = SCRIPT): Promise<Run> {
  const { plan, diagnostics } = compile(script);
  if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
  const events: ExecutorEvent[] = [];
  let valAccuracy = NaN;
  const kernels = new Set<string>();
  const profile = await tf.profile(async () => {
    const result = await runPlan(plan, { baseDir: root, runDir: mkdtempSync(join(tmpdir(), 'tl-webgpu-')), backend, onEvent: (e) => events.push(e) });
    valAccuracy = result.metrics.valAccuracy ?? NaN;
    return [];
  });
  for (const k of profile.kernels) kernels.add(k.name);
  const metrics = events.flatMap((e) => (e.type === 'epochEnded' ? [e.metrics] : []));
  const replays = events.flatMap((e) => (e.type === 'phaseEnded' ? [e.replay] : []));
  const tiles = events.flatMap((e) => (e.type === 'phaseEnded' ? [e.tiles] : []));
  return { losses: metrics.map((m) => m.loss), metrics, valAccuracy, replays, tiles, kernels, updates: profile.kernels.filter((k) => k.name === OPTIMIZER_UPDATE).length };
}

describe.skipIf(!env.ok)(`a training run through the executor on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it('trains the tiny network on fashion-mini with TL\'s kernels, as wasm does', async () => {
    measuredChoices.clear();
    process.env.TL_GEMM_TUNE = '1';
    const tiles = join(mkdtempSync(join(tmpdir(), 'tl-tiles-')), 'gemm-tiles.json');
    process.env.TL_TUNE_CACHE = tiles;
    const gpu = await run('webgpu').finally(() => {
      delete process.env.TL_GEMM_TUNE;
      process.env.TL_TUNE_CACHE = 'off';
    });
    expect(measuredChoices.size).toBeGreaterThan(0);
    // Each phase reports its products: all measured (a fresh cache); the second phase's unfrozen
    // block adds gradients of its own.
    const [first, second] = gpu.tiles;
    expect(first!.products).toBeGreaterThan(0);
    expect([first!.measured, first!.cached]).toEqual([first!.products, 0]);
    expect(second!.products).toBeGreaterThan(0);
    expect(first!.products + second!.products).toBe(measuredChoices.size);
    // The choices are kept for the next run, under the device that measured them.
    const kept = JSON.parse(readFileSync(tiles, 'utf8')) as { devices: Record<string, Record<string, string>> };
    const device = env.ok ? env.adapter.replace(/^(software|hardware): /, '') : '';
    expect(Object.keys(kept.devices)).toEqual([device]);
    expect(Object.keys(kept.devices[device]!).map((key) => key.slice(0, key.indexOf('#'))).sort()).toEqual([...measuredChoices.keys()].sort());
    // The validation pass's products too: folded, so bias and ReLU in the GEMM's write-out.
    expect([...measuredChoices.keys()].some((key) => /^conv2dForward\d_relu_true\|/.test(key))).toBe(true);
    const wasm = await run('wasm');
    for (const k of [BN_FORWARD, BN_TRAINING_GRAD, MASK_GRAD, OPTIMIZER_UPDATE, AFFINE_SAMPLE]) expect(gpu.kernels).toContain(k);
    expect(gpu.losses).toHaveLength(4);
    // Same plan, seed, data order and augmentation draws: the backends differ only in float rounding.
    gpu.losses.forEach((l, i) => expect(Math.abs(l - wasm.losses[i]!), `epoch ${i + 1} loss`).toBeLessThan(1e-3 * wasm.losses[i]!));
    expect(Math.abs(gpu.valAccuracy - wasm.valAccuracy)).toBeLessThanOrEqual(0.02);
    expect(gpu.valAccuracy).toBeGreaterThan(0.3);
  }, 600_000);

  it('replays the steps that repeat, to the same losses as running every step', async () => {
    const replayed = await run('webgpu');
    process.env.TL_STEP_REPLAY = '0';
    const plain = await run('webgpu').finally(() => delete process.env.TL_STEP_REPLAY);
    expect(replayed.losses).toEqual(plain.losses);
    expect(replayed.valAccuracy).toBe(plain.valAccuracy);
    // A replayed step runs no kernel: the optimizer's updates of most steps never ran as kernels.
    expect(replayed.updates).toBeLessThan(plain.updates);
    // 300 training images at batch 32: 10 steps an epoch, the last a smaller batch. Phase 1 (3
    // epochs): two steps of warm-up and two recorded, then five replayed before the first epoch's
    // smaller batch; in each later epoch at most two of its nine full steps are recorded again
    // before the rest replay (16 of 30 before the last filter gradient's kept sums were given
    // back at the end of each step: three or four were).
    expect(replayed.replays[0]!.steps).toBe(30);
    expect(replayed.replays[0]!.replayed).toBeGreaterThanOrEqual(5 + 2 * 7);
    expect(replayed.replays[0]!.replayed).toBeLessThanOrEqual(30 - 4 - 2);
    expect(replayed.replays[1]!.steps).toBe(10);
    expect(replayed.replays[1]!.replayed).toBeGreaterThan(0);
    expect(plain.replays).toEqual([null, null]);
    // Early stopping keeps a copy of the best weights at each improvement, not clones sharing the
    // variables' buffers, which dropped the graph each time (16 of phase 1's 30 steps replayed with
    // clones, 19 with copies against 20 without early stopping: the copies' buffers move the
    // pool's order once).
    const stopping = await run('webgpu', `${SCRIPT}\nearly stop patience 9\n`);
    expect(stopping.losses).toEqual(replayed.losses);
    expect(stopping.replays[0]!.replayed).toBeGreaterThanOrEqual(replayed.replays[0]!.replayed - 1);
  }, 600_000);

  // What an adaptation term draws for a step (target rows, DANN's ramped weight, self-training's
  // labels) is made before the step, so adapted steps replay too: on images (augmented, no cache)
  // and on a frozen prefix's cached activations for both domains.
  const target = join(root, 'examples/data/fashion-mini/dim/unlabelled');
  it.each([
    ['dann', `augment flip\nadapt dann weight 1 target "${target}"`],
    ['coral on cached activations', `adapt coral weight 10 target "${target}"`],
    ['pseudolabel', `augment flip\nadapt pseudolabel threshold 0.3 rounds 1 target "${target}"`],
  ])('replays adapted steps (%s) to the same metrics as running every step', async (_name, adapt) => {
    const script = `use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block2
epochs 2
batch 32
lr 3e-3
${adapt}`;
    const replayed = await run('webgpu', script);
    process.env.TL_STEP_REPLAY = '0';
    const plain = await run('webgpu', script).finally(() => delete process.env.TL_STEP_REPLAY);
    expect(replayed.metrics.length).toBeGreaterThanOrEqual(2);
    expect(replayed.metrics).toEqual(plain.metrics);
    expect(replayed.valAccuracy).toBe(plain.valAccuracy);
    expect(replayed.updates).toBeLessThan(plain.updates);
    expect(replayed.replays[0]!.replayed).toBeGreaterThan(0);
  }, 600_000);

  it('a run cancelled within an epoch resumes to the weights of a run never stopped: replayed steps, dropout masks and Adam on the GPU', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tl-webgpu-resume-'));
    const planFor = (name: string) => {
      const { plan, diagnostics } = compile(`
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block3
head dense 16 relu dropout 0.3
augment flip
epochs 2
batch 32
lr 3e-3
export "${join(out, name)}"
`);
      if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
      return plan;
    };
    const epochs = (events: ExecutorEvent[]) => events.flatMap((e) => (e.type === 'epochEnded' ? [[e.epoch, e.metrics]] : []));
    const go = async (name: string, more: { resume?: boolean; signal?: AbortSignal; onEvent?: (e: ExecutorEvent) => void } = {}) => {
      const events: ExecutorEvent[] = [];
      const result = await runPlan(planFor(name), { baseDir: root, runDir: join(out, `${name}-state`), backend: 'webgpu', progressEveryMs: 0, ...more, onEvent: (e) => { events.push(e); more.onEvent?.(e); } });
      return { events, weights: readFileSync(join(result.exportPath!, 'weights.bin')) };
    };
    const straight = await go('straight');
    const controller = new AbortController();
    await expect(go('cancelled', { signal: controller.signal, onEvent: (e) => { if (e.type === 'batchProgress' && e.epoch === 2 && e.batch === 3) controller.abort(); } })).rejects.toThrow(/cancelled/);
    const resumed = await go('cancelled', { resume: true });
    // Steps were replayed before the cancel; a replayed step runs no JavaScript, so the masks'
    // counter on the GPU, not a count in JavaScript, says where the draws stood.
    expect(straight.events.find((e) => e.type === 'phaseEnded')).toMatchObject({ replay: { replayed: expect.any(Number) } });
    expect(straight.events.flatMap((e) => (e.type === 'phaseEnded' ? [e.replay!.replayed] : []))[0]).toBeGreaterThan(0);
    expect(epochs(resumed.events)).toEqual(epochs(straight.events).slice(-1));
    expect(resumed.weights.equals(straight.weights)).toBe(true);
  }, 600_000);

  it("lr auto's search leaves the GPU's dropout counter where it found it: the phase trains as with the found rate written", async () => {
    const out = mkdtempSync(join(tmpdir(), 'tl-webgpu-auto-'));
    const go = async (rate: string, name: string) => {
      const { plan, diagnostics } = compile(`
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block3
head dense 16 relu dropout 0.3
epochs 1
batch 32
phase two lr ${rate} epochs 1
export "${join(out, name)}"
`);
      if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
      const events: ExecutorEvent[] = [];
      const result = await runPlan(plan, { baseDir: root, runDir: join(out, `${name}-state`), backend: 'webgpu', progressEveryMs: 0, onEvent: (e) => events.push(e) });
      return { events, weights: readFileSync(join(result.exportPath!, 'weights.bin')) };
    };
    const auto = await go('auto', 'auto');
    const found = auto.events.flatMap((e) => (e.type === 'phaseStarted' && e.lrSearched ? [e.lr] : []));
    expect(found).toHaveLength(1);
    const written = await go(String(found[0]), 'written');
    expect(auto.weights.equals(written.weights)).toBe(true);
  }, 600_000);
});
