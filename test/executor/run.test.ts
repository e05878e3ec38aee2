import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import type { ExecutorEvent } from '../../src/executor/events.ts';
import { runPlan } from '../../src/executor/run.ts';
import { decodeImage } from '../../src/executor/data/decode-image.ts';
import { loadExported, predictFiles } from '../../src/executor/predict.ts';
import { applyPreprocess } from '../../src/executor/zoo/index.ts';

const root = join(import.meta.dirname, '..', '..');

function planOf(source: string) {
  const { plan, diagnostics } = compile(source);
  if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return plan;
}

describe('a real training run on real images (tiny model, wasm backend)', () => {
  it('trains in phases, keeps frozen weights and BatchNorm statistics bit-identical, leaks no tensors, exports', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tl-run-'));
    const plan = planOf(`
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block3
augment flip
epochs 3
batch 32
lr 3e-3
phase tune unfreeze block3 lr 1e-3 epochs 1
checkpoint every 1
export "${join(out, 'model')}"
`);
    const events: ExecutorEvent[] = [];
    const tensorsAtEpochEnd: number[] = [];
    let frozenBefore: Float32Array[] = [];
    let frozenAfter: Float32Array[] = [];
    const frozenNames = (e: ExecutorEvent) => e.type === 'jobStarted';
    const tensorsBefore = tf.memory().numTensors;
    const result = await runPlan(plan, {
      baseDir: root,
      runDir: join(out, 'state'),
      backend: 'wasm',
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'epochEnded') tensorsAtEpochEnd.push(tf.memory().numTensors);
        if (frozenNames(e)) {
          // jobStarted comes after the model is built and before any step: snapshot block1/block2 weights + BN stats.
          frozenBefore = frozenWeights().map((t) => t.dataSync() as Float32Array);
        }
        // The network is disposed once the run ends: read it at its last event.
        if (e.type === 'jobFinished') frozenAfter = frozenWeights().map((t) => t.dataSync() as Float32Array);
      },
    });
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    const types = events.map((e) => e.type);
    expect(types[0]).toBe('jobStarted');
    expect(events[0]).toMatchObject({ adaptation: null });
    expect(types.at(-1)).toBe('jobFinished');
    expect(types.filter((t) => t === 'phaseStarted')).toHaveLength(2);
    expect(types.filter((t) => t === 'epochEnded')).toHaveLength(4);
    expect(types.filter((t) => t === 'checkpointSaved')).toHaveLength(4);

    // Same tensor count after every epoch of a phase: no leaks.
    expect(tensorsAtEpochEnd[1]).toBe(tensorsAtEpochEnd[0]);
    expect(tensorsAtEpochEnd[2]).toBe(tensorsAtEpochEnd[0]);

    // Learned something real: better than chance (10 classes).
    expect(result.metrics.accuracy).toBeGreaterThan(0.15);
    expect(result.metrics.confusion).toHaveLength(10);
    expect(result.exportPath).toBe(join(out, 'model'));

    // block1 and block2 never trained: every weight and BN moving statistic is bit-identical.
    const after = frozenAfter;
    expect(after.length).toBeGreaterThan(4);
    after.forEach((a, i) => expect(Buffer.from(a.buffer).equals(Buffer.from(frozenBefore[i]!.buffer))).toBe(true));

    const phaseStarts = events.filter((e): e is Extract<ExecutorEvent, { type: 'phaseStarted' }> => e.type === 'phaseStarted');
    expect(phaseStarts[0]!.trainable).toEqual(['block4', 'block5', 'head']);
    // Augmented inputs differ each epoch, so nothing is cached and the frozen layers run every batch.
    expect(phaseStarts.map((p) => p.cachedAt)).toEqual([null, null]);
    expect(phaseStarts[1]!.trainableParams).toBeGreaterThan(phaseStarts[0]!.trainableParams);
  }, 300_000);

  it('trains a frozen prefix on cached activations where they fit, and runs it at every batch, saying why, where they do not', async () => {
    const plan = planOf(`
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block2
epochs 2
batch 32
seed 4
`);
    const run = async (cacheBytes?: number) => {
      const events: ExecutorEvent[] = [];
      await runPlan(plan, {
        baseDir: root, runDir: mkdtempSync(join(tmpdir(), 'tl-cache-')), backend: 'wasm', onEvent: (e) => events.push(e),
        ...(cacheBytes !== undefined && { cacheBytes }),
      });
      const losses = events.flatMap((e) => (e.type === 'epochEnded' ? [e.metrics.loss] : []));
      const warnings = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
      // The warning comes as its phase starts, before the phase's first epoch.
      const phaseAt = events.findIndex((e) => e.type === 'phaseStarted');
      if (warnings.length > 0) expect(events.findIndex((e) => e.type === 'warning')).toBeLessThan(events.findIndex((e) => e.type === 'epochEnded'));
      return { started: events[phaseAt], warnings, losses };
    };
    // tiny's block2_relu at 32 px: 4,096 floats, 16 KiB an image; 400 images take 6.6 MB.
    const cached = await run();
    expect(cached.started).toMatchObject({ cachedAt: 'block2_relu' });
    expect(cached.warnings).toEqual([]);
    const uncached = await run(1e6);
    expect(uncached.started).toMatchObject({ cachedAt: null });
    expect(uncached.warnings).toEqual([
      "phase 'warmup': the frozen layers' activations (up to 'block2_relu') for 400 images would take 6.6 MB, more than the 1.0 MB TL caches; the frozen layers run at every batch instead, which is slower",
    ]);
    // The same training either way (the cached prefix runs its BatchNorms folded: the same up to rounding).
    expect(uncached.losses).toHaveLength(2);
    uncached.losses.forEach((loss, i) => expect(loss).toBeCloseTo(cached.losses[i]!, 3));
  });

  it('decays the weights the script gives a weight decay, and only the weights', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tl-run-'));
    const headAfter = async (optimizer: string, name: string) => {
      const plan = planOf(`
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze all
epochs 2
lr 0.05
optimizer ${optimizer}
export "${join(out, name)}"
`);
      await runPlan(plan, { baseDir: root, runDir: join(out, `${name}-state`), backend: 'wasm', onEvent: () => {} });
      const { model } = await loadExported(join(out, name));
      const [kernel, bias] = ['head_out/kernel', 'head_out/bias'].map((n) => model.weights.find((w) => w.originalName === n)!.read().dataSync() as Float32Array);
      model.dispose();
      return { kernel: kernel!, bias: bias! };
    };
    const norm = (a: Float32Array) => Math.hypot(...a);
    const plain = await headAfter('sgd', 'plain');
    const decayed = await headAfter('sgd weight decay 0.5', 'decayed');
    // 20 steps (2 epochs of 10 batches), each shrinking the kernel by 1 - 0.05 * 0.5: about 0.6 in all.
    expect(norm(decayed.kernel)).toBeLessThan(0.9 * norm(plain.kernel));
    expect(norm(decayed.kernel)).toBeGreaterThan(0.5 * norm(plain.kernel));
    // The bias does not decay: only the (slightly different) gradients move it apart.
    expect(Math.abs(norm(decayed.bias) - norm(plain.bias))).toBeLessThan(0.1 * norm(plain.bias));
  }, 120_000);

  it('lr auto searches the phase\'s rate as it starts and trains exactly as the script with that rate written; a resumed phase keeps it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tl-auto-'));
    const source = (rate: string, name: string) => `
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block2
head dense 16 relu dropout 0.3
epochs 1
phase two unfreeze block2 lr ${rate} epochs 2
checkpoint every 1
export "${join(out, name)}"
`;
    const run = async (rate: string, name: string, more: Partial<Parameters<typeof runPlan>[1]> = {}) => {
      const events: ExecutorEvent[] = [];
      const result = await runPlan(planOf(source(rate, name)), { baseDir: root, runDir: join(out, `${name}-state`), backend: 'wasm', progressEveryMs: 0, ...more, onEvent: (e) => { events.push(e); more.onEvent?.(e); } });
      return { events, metrics: result.metrics, weights: readFileSync(join(result.exportPath!, 'weights.bin')) };
    };
    const auto = await run('auto steps 40', 'auto');
    const points = auto.events.flatMap((e) => (e.type === 'lrPoint' ? [e] : []));
    expect(points.length).toBeGreaterThan(10);
    // `steps 40`: the search's 40 steps (fewer where the loss diverges first), not the default 100.
    expect(points.length).toBeLessThanOrEqual(40);
    expect(points.every((e) => e.phase === 1 && e.name === 'two' && e.steps === 40)).toBe(true);
    const started = auto.events.flatMap((e) => (e.type === 'phaseStarted' ? [e] : []));
    expect(started.map((e) => e.lrSearched)).toEqual([false, true]);
    const found = started[1]!.lr;
    expect(found).toBeGreaterThan(1e-7);
    expect(found).toBeLessThan(1);
    // The search's steps left nothing behind: its weights, BatchNorm statistics and dropout draws were put back.
    const written = await run(String(found), 'written');
    expect(written.events.some((e) => e.type === 'lrPoint')).toBe(false);
    expect(auto.metrics).toEqual(written.metrics);
    expect(auto.weights.equals(written.weights)).toBe(true);

    // Cancelled within the searched phase: the resumed run trains on at the rate found, without searching again.
    const controller = new AbortController();
    const cancelled = run('auto steps 40', 'resumed', { signal: controller.signal, onEvent: (e) => { if (e.type === 'batchProgress' && e.phase === 1 && e.epoch === 2 && e.batch === 2) controller.abort(); } });
    await expect(cancelled).rejects.toThrow(/cancelled/);
    const resumed = await run('auto steps 40', 'resumed', { resume: true });
    expect(resumed.events.some((e) => e.type === 'lrPoint')).toBe(false);
    expect(resumed.events.find((e) => e.type === 'phaseStarted')).toMatchObject({ phase: 1, lr: found, lrSearched: true });
    expect(resumed.weights.equals(auto.weights)).toBe(true);

    // Cancelled in the middle of the search: said so; resumed from the checkpoint before it, the search runs again, to the same end.
    const searching = new AbortController();
    const failed: ExecutorEvent[] = [];
    await expect(run('auto steps 40', 'mid-search', { signal: searching.signal, onEvent: (e) => { if (e.type === 'lrPoint' && e.step === 5) searching.abort(); failed.push(e); } })).rejects.toThrow(/^cancelled while searching the rate of phase 'two'; a resumed run searches it again$/);
    expect(failed.at(-1)).toMatchObject({ type: 'jobFailed', code: 'cancelled', cancelled: true });
    const searchedAgain = await run('auto steps 40', 'mid-search', { resume: true });
    expect(searchedAgain.events.filter((e) => e.type === 'lrPoint').length).toBe(points.length);
    expect(searchedAgain.weights.equals(auto.weights)).toBe(true);
  }, 240_000);

  it('fails with a code and the script span when the data folder is missing', async () => {
    const plan = planOf('use tiny\ndata "no/such/folder"\nepochs 1');
    const events: ExecutorEvent[] = [];
    await expect(runPlan(plan, { baseDir: root, runDir: mkdtempSync(join(tmpdir(), 'tl-run-')), backend: 'wasm', onEvent: (e) => events.push(e) })).rejects.toThrow(/no\/such\/folder/);
    const failed = events.at(-1);
    expect(failed?.type).toBe('jobFailed');
    expect(failed).toMatchObject({ code: 'data-not-found', origin: { line: 2, column: 1 } });
  }, 60_000);

  it('looks at every path the script reads before the base loads, whose weights may be a download away', async () => {
    const data = join(root, 'examples/data/fashion-mini');
    const failure = async (source: string) => {
      const events: ExecutorEvent[] = [];
      const options = { baseDir: root, runDir: mkdtempSync(join(tmpdir(), 'tl-run-')), cacheDir: mkdtempSync(join(tmpdir(), 'tl-no-weights-')), backend: 'wasm' as const };
      await expect(runPlan(planOf(source), { ...options, onEvent: (e) => events.push(e) })).rejects.toThrow();
      expect(events).toHaveLength(1);
      return events[0];
    };
    // vgg16's ImageNet weights are not in this empty cache: a missing path is still what is reported.
    expect(await failure('use vgg16 weights imagenet\ndata "no/such/folder"')).toMatchObject({ code: 'data-not-found', origin: { line: 2 } });
    expect(await failure(`use vgg16 weights imagenet\ndata "${data}/train" val "no/val"`)).toMatchObject({ code: 'data-not-found', message: expect.stringMatching(/^validation data '.*no\/val' does not exist/) });
    expect(await failure(`use vgg16 weights imagenet\ndata "${data}/train"\nevaluate "no/test"`)).toMatchObject({ code: 'data-not-found', origin: { line: 3 } });
    expect(await failure(`use vgg16 weights imagenet\ndata "${data}/train"\nadapt coral target "no/target"`)).toMatchObject({ code: 'adapt-target-not-found', origin: { line: 3 } });
    expect(await failure(`use vgg16 weights imagenet\ndata "${data}/train"`)).toMatchObject({ code: 'weights-missing' });
  }, 60_000);

  it('fails before training, with the span, on data of a single class, an evaluate set with classes training lacks, and folders it cannot write', async () => {
    const data = mkdtempSync(join(tmpdir(), 'tl-classes-'));
    const fashion = join(root, 'examples/data/fashion-mini');
    for (const [cls, from] of [['cat', 'boot'], ['dog', 'dress']] as const) {
      mkdirSync(join(data, 'two', cls), { recursive: true });
      for (const f of ['000.png', '001.png', '002.png']) copyFileSync(join(fashion, 'train', from, f), join(data, 'two', cls, f));
    }
    cpSync(join(data, 'two', 'cat'), join(data, 'one', 'cat'), { recursive: true });
    const run = async (source: string, runDir = mkdtempSync(join(tmpdir(), 'tl-run-'))) => {
      const events: ExecutorEvent[] = [];
      await expect(runPlan(planOf(source), { baseDir: data, runDir, backend: 'wasm', onEvent: (e) => events.push(e) })).rejects.toThrow();
      expect(events.map((e) => e.type)).toEqual(['jobFailed']);
      return events[0];
    };
    expect(await run('use tiny input 32\nfreeze none\ndata "one" split 0.2\nepochs 1')).toMatchObject({
      code: 'one-class',
      message: "the data has a single class ('cat'); a classifier needs at least two: add images of another class",
      origin: { line: 3, column: 1 },
    });
    expect(await run(`use tiny input 32\nfreeze none\ndata "two" split 0.2\nepochs 1\nevaluate "${join(fashion, 'test')}"`)).toMatchObject({
      code: 'unknown-label',
      message: expect.stringMatching(/^evaluate set has classes the training data lacks: bag, boot, /),
      origin: { line: 5, column: 1 },
    });
    writeFileSync(join(data, 'model'), 'a file where the export folder would go');
    expect(await run('use tiny input 32\nfreeze none\ndata "two" split 0.2\nepochs 1\nexport "model/v1"')).toMatchObject({
      code: 'export-failed',
      message: `cannot export to '${join(data, 'model', 'v1')}': a file is in the way of the folder`,
      origin: { line: 5, column: 1 },
    });
    // Node 20's own recursive mkdir never returned on procfs, which refuses new folders with ENOENT.
    if (existsSync('/proc/self')) {
      expect(await run('use tiny input 32\nfreeze none\ndata "two" split 0.2\nepochs 1\nexport "/proc/tl/model"')).toMatchObject({
        code: 'export-failed',
        message: "cannot export to '/proc/tl/model': folders cannot be made there",
      });
    }
    // A script that checkpoints learns before training that its run folder cannot take them.
    expect(await run('use tiny input 32\nfreeze none\ndata "two" split 0.2\nepochs 1\ncheckpoint every 1', join(data, 'model', 'state'))).toMatchObject({
      code: 'checkpoint-failed',
      message: `cannot save a checkpoint in '${join(data, 'model', 'state')}': a file is in the way of the folder`,
      origin: { line: 5, column: 1 },
    });
  }, 60_000);
});

/** The tiny model's block1 and block2 variables, including BatchNorm moving mean and variance. */
function frozenWeights(): tf.Tensor[] {
  // tfjs keeps every variable in the engine registry; pick the tiny base's first two blocks by name.
  const vars = Object.values((tf.engine() as unknown as { registeredVariables: Record<string, tf.Variable> }).registeredVariables);
  return vars.filter((v) => /^block[12]_/.test(v.name));
}

describe('cancel, resume and predict', () => {
  it('Ctrl-C style cancellation saves a checkpoint; --resume finishes the schedule; the export predicts', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tl-resume-'));
    const source = `
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block2
epochs 1
batch 64
phase two lr 1e-3 epochs 2 unfreeze block2
export "${join(out, 'model')}"
`;
    const plan = planOf(source);
    // The checkpoint is saved while block1 is frozen, and loaded into a network whose layers all
    // train: tfjs lists trainable weights first, so weights must be matched by name, not position.
    const controller = new AbortController();
    const first: ExecutorEvent[] = [];
    await expect(
      runPlan(plan, {
        baseDir: root, runDir: join(out, 'state'), backend: 'wasm', signal: controller.signal,
        onEvent: (e) => {
          first.push(e);
          if (e.type === 'phaseStarted' && e.phase === 1) controller.abort();
        },
      }),
    ).rejects.toThrow(/cancelled/);
    expect(first.at(-2)).toMatchObject({ type: 'checkpointSaved', reason: 'cancel', phase: 1, epoch: 0 });
    expect(first.at(-1)).toMatchObject({ type: 'jobFailed', code: 'cancelled', cancelled: true });

    const second: ExecutorEvent[] = [];
    // The checkpoint belongs to this script: one with another head is refused, and the checkpoint stays.
    const otherHead = planOf(source.replace('freeze until block2', 'head dense 8\nfreeze until block2'));
    await expect(runPlan(otherHead, { baseDir: root, runDir: join(out, 'state'), backend: 'wasm', resume: true, onEvent: () => {} })).rejects.toMatchObject({
      code: 'checkpoint-mismatch', message: expect.stringContaining('it lacks head_dense_1/kernel, head_dense_1/bias; was the script changed?'),
    });
    const result = await runPlan(plan, { baseDir: root, runDir: join(out, 'state'), backend: 'wasm', resume: true, onEvent: (e) => second.push(e) });
    // Without augmentation the frozen prefix runs once per phase.
    expect(first.find((e) => e.type === 'phaseStarted')).toMatchObject({ phase: 0, cachedAt: 'block2_relu' });
    expect(second.find((e) => e.type === 'phaseStarted')).toMatchObject({ phase: 1, cachedAt: 'block1_relu' });
    expect(second.filter((e) => e.type === 'phaseStarted').map((e) => (e as { phase: number }).phase)).toEqual([1]);
    expect(second.filter((e) => e.type === 'epochEnded')).toHaveLength(2);

    const exported = await loadExported(result.exportPath!);
    const file = join(root, 'examples/data/fashion-mini/test/bag/000.png');
    const [prediction] = await predictFiles(exported, [file], 3);
    expect(prediction!.top).toHaveLength(3);
    expect(exported.labels).toContain(prediction!.top[0]!.label);
    const total = prediction!.top.reduce((a, t) => a + t.probability, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(1.0001);
    // With --tta, each label's probability is the mean of the image's and its mirror image's.
    // (The mirror image made from the decoded pixels: sharp's upscaling is not mirror-symmetric to the pixel.)
    const [withMirror, plainAll] = [...(await predictFiles(exported, [file], 10, { tta: true })), ...(await predictFiles(exported, [file], 10))];
    const size = exported.preprocess.inputSize;
    const pixels = await decodeImage(readFileSync(file), { size, fit: 'fill' });
    const flopped = Uint8Array.from(pixels, (_, i) => {
      const [row, x, c] = [Math.floor(i / (3 * size)), Math.floor(i / 3) % size, i % 3];
      return pixels[(row * size + (size - 1 - x)) * 3 + c]!;
    });
    const mirror = tf.tidy(() => exported.model.predict(applyPreprocess(tf.tensor4d(flopped, [1, size, size, 3], 'int32').toFloat(), exported.preprocess)) as tf.Tensor).dataSync();
    for (const t of withMirror!.top) {
      const plain = plainAll!.top.find((q) => q.label === t.label)!.probability;
      expect(t.probability).toBeCloseTo((plain + mirror[exported.labels.indexOf(t.label)]!) / 2, 5);
    }
    // A file that is not an image, or not there, gets its reason; the images around it are still ranked.
    const mixed = await predictFiles(exported, [join(root, 'README.md'), file, join(root, 'no-such.png')], 1);
    expect(mixed.map((p) => [p.top.length, p.error])).toEqual([
      [0, expect.stringMatching(/^cannot read image .*README\.md: /)],
      [1, null],
      [0, `cannot read image ${join(root, 'no-such.png')}: no such file`],
    ]);
    expect(mixed[1]!.top[0]).toEqual(prediction!.top[0]);
    // A folder stands for the images under it, in sorted order; one without images is named.
    const bags = join(root, 'examples/data/fashion-mini/test/bag');
    const empty = mkdtempSync(join(tmpdir(), 'tl-no-images-'));
    const byFolder = await predictFiles(exported, [bags, empty], 1);
    expect(byFolder.map((p) => p.file)).toEqual([...readdirSync(bags).sort().map((f) => join(bags, f)), empty]);
    expect(byFolder[0]!.top).toEqual(prediction!.top.slice(0, 1));
    expect(byFolder.at(-1)!.error).toBe(`cannot read image ${empty}: a folder with no images in it`);
    // A damaged export is refused with the file and the reason, not a tensor-size error from tfjs.
    cpSync(result.exportPath!, join(out, 'damaged'), { recursive: true });
    truncateSync(join(out, 'damaged', 'weights.bin'), 64);
    await expect(loadExported(join(out, 'damaged'))).rejects.toMatchObject({ code: 'bad-export', message: expect.stringMatching(/weights need \d+ bytes, but its weights files hold 64/) });
    // A folder that does not exist, a file, and a folder that holds no export each say which.
    await expect(loadExported(join(out, 'nowhere'))).rejects.toMatchObject({ code: 'bad-export', message: expect.stringContaining(`model folder ${join(out, 'nowhere')} does not exist`) });
    await expect(loadExported(join(out, 'damaged', 'weights.bin'))).rejects.toMatchObject({ code: 'bad-export', message: expect.stringContaining('weights.bin is a file') });
    await expect(loadExported(bags)).rejects.toMatchObject({ code: 'bad-export', message: expect.stringContaining(`${join(bags, 'labels.json')} is missing`) });
  }, 300_000);

  it('a run cancelled within an epoch, or killed after a checkpoint, resumes to the very weights of a run never stopped', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tl-exact-'));
    // Everything a step's outcome hangs on: Adam's moments, the batch order and augmentation draws,
    // dropout masks, early stopping's best epoch and its weights, checkpoint best's score. Phase
    // two's rate is too high on purpose: it makes the phase worse after its first epoch, so at its
    // end early stopping puts back weights from before every resume point below, which only the
    // checkpoints held. It clips its gradients by norm: the epoch's norms so far are in the checkpoint too.
    const planFor = (checkpoint: string, name: string) => planOf(`
use tiny input 32
data "${join(root, 'examples/data/fashion-mini/train')}" split 0.25
freeze until block2
head dense 16 relu dropout 0.3
augment flip, rotate 10
epochs 1
batch 32
lr 3e-3
phase two unfreeze block2 lr 0.3 epochs 4 clip norm 0.5
early stop patience 3 monitor val_accuracy
checkpoint ${checkpoint}
export "${join(out, name)}"
`);
    const options = { baseDir: root, backend: 'wasm' as const, progressEveryMs: 0 };
    const run = async (checkpoint: string, name: string, more: Partial<Parameters<typeof runPlan>[1]> = {}) => {
      const events: ExecutorEvent[] = [];
      const result = await runPlan(planFor(checkpoint, name), { ...options, runDir: join(out, `${name}-state`), ...more, onEvent: (e) => { events.push(e); more.onEvent?.(e); } });
      return { events, metrics: result.metrics, weights: readFileSync(join(result.exportPath!, 'weights.bin')) };
    };
    /** Epochs' metrics, checkpoints and phase ends. */
    const outcomes = (events: ExecutorEvent[]) =>
      events.flatMap((e): unknown[][] =>
        e.type === 'epochEnded' ? [[e.phase, e.epoch, e.metrics]]
        : e.type === 'checkpointSaved' ? [[e.phase, e.epoch, e.reason]]
        : e.type === 'phaseEnded' ? [[e.phase, e.stoppedEarly, e.best]]
        : []);
    /** The resumed run did, from where it resumed, what the run never stopped did, and ended with its weights. */
    const same = (resumed: Awaited<ReturnType<typeof run>>, straight: Awaited<ReturnType<typeof run>>) => {
      const after = outcomes(resumed.events);
      expect(after.length).toBeGreaterThan(0);
      expect(after).toEqual(outcomes(straight.events).slice(-after.length));
      expect(resumed.metrics).toEqual(straight.metrics);
      expect(resumed.weights.equals(straight.weights)).toBe(true);
    };

    // checkpoint best: cancelled within phase two's third epoch (its second without a better score).
    const straight = await run('best', 'straight');
    // Phase two says it clips, and each of its epochs how much.
    expect(straight.events.filter((e) => e.type === 'phaseStarted').map((e) => e.type === 'phaseStarted' && e.clip)).toEqual(['', 'clip norm 0.5']);
    const epochs = straight.events.flatMap((e) => (e.type === 'epochEnded' ? [e] : []));
    expect(epochs.filter((e) => e.phase === 0).every((e) => e.metrics.gradNorm === undefined)).toBe(true);
    for (const e of epochs.filter((e) => e.phase === 1)) {
      expect(e.metrics.gradNorm).toBeGreaterThan(0);
      expect(e.metrics.clipped).toBeGreaterThanOrEqual(0);
      expect(e.metrics.clipped).toBeLessThanOrEqual(1);
    }
    const firstOfPhaseTwo = straight.events.find((e) => e.type === 'epochEnded' && e.phase === 1);
    expect(straight.events.find((e) => e.type === 'phaseEnded' && e.phase === 1)).toMatchObject({
      epochsRun: 4, best: firstOfPhaseTwo?.type === 'epochEnded' ? firstOfPhaseTwo.metrics : 'none',
    });
    const controller = new AbortController();
    const cancelled = run('best', 'cancelled', {
      signal: controller.signal,
      onEvent: (e) => { if (e.type === 'batchProgress' && e.phase === 1 && e.epoch === 3 && e.batch === 3) controller.abort(); },
    });
    await expect(cancelled).rejects.toThrow(/cancelled/);
    const resumed = await run('best', 'cancelled', { resume: true });
    // Batch 3's progress is read after batch 4's step is queued, so the cancel lands before batch 5.
    expect(resumed.events.find((e) => e.type === 'batchProgress')).toMatchObject({ phase: 1, epoch: 3, batch: 5 });
    same(resumed, straight);

    // checkpoint every 1: killed after phase two's first epoch, and after its last.
    const copyAt = (epoch: number, name: string) => (e: ExecutorEvent) => {
      if (e.type === 'checkpointSaved' && e.phase === 1 && e.epoch === epoch) cpSync(e.path, join(out, `${name}-state`, 'checkpoint'), { recursive: true });
    };
    const everyEpoch = await run('every 1', 'every', { onEvent: (e) => { copyAt(1, 'killed-early')(e); copyAt(4, 'killed-late')(e); } });
    expect(everyEpoch.weights.equals(straight.weights)).toBe(true);
    same(await run('every 1', 'killed-early', { resume: true }), everyEpoch);
    same(await run('every 1', 'killed-late', { resume: true }), everyEpoch);
  }, 300_000);

  it.each([
    ['dann', 0],
    ['coral', 0],
    ['adabn', 0],
    ['pseudolabel threshold 0.2 rounds 1', 1],
  ])('with adapt %s, a run cancelled within an epoch resumes to the weights of a run never stopped', async (method, phase) => {
    const out = mkdtempSync(join(tmpdir(), 'tl-exact-adapt-'));
    const fashion = join(root, 'examples/data/fashion-mini');
    // DANN trains its domain classifier beside the network; self-training's round trains on labels
    // the network gave the target images at the round's start: the checkpoint keeps both. CORAL and
    // DANN draw target batches as they go (the checkpoint keeps where). AdaBN measures the target
    // after the last phase, from the resumed weights (its source statistics at the phase's start
    // cannot show: every epoch re-measures the statistics of the BatchNorm layers that train).
    const planFor = (name: string) => planOf(`
use tiny input 32
data "${fashion}/train" split 0.25
freeze until block3
head dense 16 relu dropout 0.3
epochs 2
batch 32
lr 3e-3
adapt ${method} target "${fashion}/dim/unlabelled"
export "${join(out, name)}"
`);
    const go = async (name: string, more: { resume?: boolean; signal?: AbortSignal; onEvent?: (e: ExecutorEvent) => void } = {}) => {
      const events: ExecutorEvent[] = [];
      const result = await runPlan(planFor(name), { baseDir: root, runDir: join(out, `${name}-state`), backend: 'wasm', progressEveryMs: 0, ...more, onEvent: (e) => { events.push(e); more.onEvent?.(e); } });
      return { epochs: events.flatMap((e) => (e.type === 'epochEnded' ? [[e.phase, e.epoch, e.metrics]] : [])), metrics: result.metrics, weights: readFileSync(join(result.exportPath!, 'weights.bin')) };
    };
    const straight = await go('straight');
    const controller = new AbortController();
    await expect(go('cancelled', { signal: controller.signal, onEvent: (e) => { if (e.type === 'batchProgress' && e.phase === phase && e.epoch === 2 && e.batch === 3) controller.abort(); } })).rejects.toThrow(/cancelled/);
    const resumed = await go('cancelled', { resume: true });
    expect(resumed.epochs).toEqual(straight.epochs.slice(-1));
    expect(resumed.metrics).toEqual(straight.metrics);
    expect(resumed.weights.equals(straight.weights)).toBe(true);
  }, 300_000);
});
