/**
 * What a dispatch and an upload cost the host, call by call, through Dawn's Node bindings (each
 * call in a tight loop on the webgpu backend's device); what a full-size folded inference batch of each zoo
 * network costs it with TL's bind group cache and without; and what making a batch of images into
 * the network's input costs it (batches.ts imageBatch) with TL's kernel and with tfjs's ops. The
 * queue's submit is dropped for the last two, so nothing runs on the adapter: the host's work is
 * all that is timed. Runs on any adapter, the software one
 * included; the figures are the host's, not the GPU's.
 *
 * LP_NUM_THREADS=0 npx tsx bench/gpu/host.ts [--size 224] [--batch 32] [--batches 30]
 */
import * as tf from '@tensorflow/tfjs';
import { hasVulkanLoader } from '../../src/executor/backends/webgpu/adapter.ts';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels, webgpuBindGroupCache } from '../../src/executor/backends/webgpu/index.ts';
import { imageBatch } from '../../src/executor/batches.ts';
import { Pixels } from '../../src/executor/data/pixels.ts';
import { foldBatchNorms } from '../../src/executor/fold-batchnorm.ts';
import { preprocessOf } from '../../src/executor/zoo/networks.ts';
import { numberOption } from '../args.ts';
import { classifier } from './models.ts';
import { setUpWebgpu } from './setup.ts';
import { countWork, fmt } from './timing.ts';

const size = numberOption('size', 224);
const batch = numberOption('batch', 32);
const batches = numberOption('batches', 30);
if (!hasVulkanLoader()) process.env.BENCH_SOFTWARE = '1';
const setup = await setUpWebgpu();
const device = (tf.backend() as unknown as { device: GPUDevice }).device;

/** Microseconds a call of `f`, over `n` calls after a warm-up. */
function usPerCall(f: () => void, n = 20_000): number {
  for (let i = 0; i < Math.min(1000, n); i++) f();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f();
  return ((performance.now() - t0) / n) * 1000;
}

// One small program with three storage buffers and a uniform block, as most of tfjs's are.
const pipeline = device.createComputePipeline({
  layout: 'auto',
  compute: {
    entryPoint: 'main',
    module: device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read_write> o : array<f32>;
@group(0) @binding(1) var<storage, read> a : array<f32>;
@group(0) @binding(2) var<storage, read> b : array<f32>;
struct U { n : i32 };
@group(0) @binding(3) var<uniform> u : U;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id : vec3<u32>) {
  let i = i32(id.x);
  if (i < u.n) { o[i] = a[i] + b[i]; }
}`,
    }),
  },
});
const layout = pipeline.getBindGroupLayout(0);
const storage = [0, 1, 2].map(() => device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST }));
const uniform = device.createBuffer({ size: 256, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
const entries = () => [...storage.map((buffer, binding) => ({ binding, resource: { buffer } })), { binding: 3, resource: { buffer: uniform, offset: 0, size: 16 } }];
const group = device.createBindGroup({ layout, entries: entries() });
// Encoding into one pass, ended and finished every 500 dispatches (the commands are never submitted).
let encoder = device.createCommandEncoder();
let pass = encoder.beginComputePass();
let recorded = 0;
const rollOver = () => {
  if (++recorded % 500 === 0) {
    pass.end();
    encoder.finish();
    encoder = device.createCommandEncoder();
    pass = encoder.beginComputePass();
  }
};
const calls: [string, number][] = [
  ['createBindGroup (4 buffers)', usPerCall(() => void device.createBindGroup({ layout, entries: entries() }))],
  ['setPipeline + setBindGroup + dispatchWorkgroups', usPerCall(() => { pass.setPipeline(pipeline); pass.setBindGroup(0, group); pass.dispatchWorkgroups(64); rollOver(); })],
  ['queue.writeBuffer (64 bytes)', usPerCall(() => device.queue.writeBuffer(uniform, 0, new Float32Array(16)))],
  ['pipeline.getBindGroupLayout', usPerCall(() => void pipeline.getBindGroupLayout(0))],
  ['createBuffer + destroy (4 KB)', usPerCall(() => device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE }).destroy(), 5000)],
  ['command encoder, pass, end, finish', usPerCall(() => { const e = device.createCommandEncoder(); e.beginComputePass().end(); e.finish(); }, 5000)],
];
pass.end();
encoder.finish();

/**
 * Uploading `bytes` of values into a storage buffer: as tfjs 4.22 does (a staging buffer mapped at
 * creation, filled, copied from in the command encoder and destroyed after the submit, every 15
 * uploads here), and with `queue.writeBuffer` (uploads.ts).
 */
function uploads(bytes: number, n: number): [string, number][] {
  const target = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const values = new Float32Array(bytes / 4).fill(1);
  let commands = device.createCommandEncoder();
  const staged: GPUBuffer[] = [];
  const staging = usPerCall(() => {
    const buffer = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
    new Float32Array(buffer.getMappedRange()).set(values);
    buffer.unmap();
    commands.copyBufferToBuffer(buffer, 0, target, 0, bytes);
    if (staged.push(buffer) === 15) {
      device.queue.submit([commands.finish()]);
      for (const b of staged.splice(0)) b.destroy();
      commands = device.createCommandEncoder();
    }
  }, n);
  device.queue.submit([commands.finish()]);
  for (const b of staged.splice(0)) b.destroy();
  const written = usPerCall(() => device.queue.writeBuffer(target, 0, values), n);
  target.destroy();
  const size = bytes < 1e6 ? `${bytes} bytes` : `${fmt(bytes / 1e6, 1)} MB`;
  return [[`upload ${size}: staging buffer (tfjs), copy, submit`, staging], [`upload ${size}: queue.writeBuffer (TL)`, written]];
}
calls.push(...uploads(768, 2000), ...uploads(4 * 224 * 224 * 3 * 8, 50));
await device.queue.onSubmittedWorkDone();
console.log(`${setup.adapter}${setup.software ? ' (software)' : ''}`);
console.log('| call | us a call |');
console.log('| --- | --- |');
for (const [name, us] of calls) console.log(`| ${name} | ${fmt(us)} |`);

/** Least / median of host ms. */
function leastMedian(ms: number[]): string {
  const sorted = [...ms].sort((p, q) => p - q);
  return `${fmt(sorted[0], 1)} / ${fmt(sorted[sorted.length >> 1], 1)}`;
}

/**
 * Six rounds, `sides` taking turns so that each sees the same state of the machine. In each,
 * `round(side, queue)` sets up and calls `queue(call, measuring)`, which runs `call` (queuing work
 * and returning its result) two times to warm up, calls `measuring()`, then `batches / 3` times
 * more, keeping for `side` the host ms each took to queue its work, and reading each result.
 */
async function alternatingRounds<S extends string>(sides: readonly S[], round: (side: S, queue: (call: () => tf.Tensor, measuring?: () => void) => Promise<void>) => Promise<void>): Promise<Record<S, number[]>> {
  const ms = Object.fromEntries(sides.map((side) => [side, [] as number[]])) as Record<S, number[]>;
  for (let r = 0; r < 6; r++) {
    const side = sides[r % sides.length]!;
    await round(side, async (call, measuring) => {
      for (let i = 0; i < Math.ceil(batches / 3) + 2; i++) {
        if (i === 2) measuring?.();
        const t0 = performance.now();
        const out = call();
        if (i >= 2) ms[side].push(performance.now() - t0);
        await out.data();
        out.dispose();
      }
    });
  }
  return ms;
}

// Full-size inference, as TL's predictions run it (each BatchNorm folded into its convolution).
device.queue.submit = () => {};
device.onuncapturederror = () => {}; // a software adapter binds at most 128 MiB: MobileNetV2's widest activations fail validation
console.log(`\nInference, ${size} px, batch ${batch}, BatchNorms folded, submit dropped; host ms a batch over ${batches} batches each, in alternating rounds`);
console.log('| network | dispatches | bind group cache: least / median host ms | of which making bind groups | without: least / median | of which making bind groups |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const name of ['resnet50', 'mobilenetv2'] as const) {
  const model = await classifier(name, size, 10);
  const folded = foldBatchNorms(model);
  const xs = tf.zeros([batch, size, size, 3]);
  const inBindGroups = { cached: 0, plain: 0 };
  let dispatches = 0;
  const ms = await alternatingRounds(['cached', 'plain'] as const, async (side, queue) => {
    registerWebgpuTrainingKernels();
    if (side === 'plain') webgpuBindGroupCache()?.restore();
    const cache = webgpuBindGroupCache();
    // The time inside createBindGroup, and (with the cache) how many it was asked for.
    const make = device.createBindGroup;
    let making = 0;
    device.createBindGroup = (descriptor) => {
      const t0 = performance.now();
      const made = make.call(device, descriptor);
      making += performance.now() - t0;
      return made;
    };
    let asked = 0;
    await queue(() => model.predict(xs) as tf.Tensor, () => {
      making = 0;
      asked = (cache?.stats.misses ?? 0) + (cache?.stats.hits ?? 0);
    });
    inBindGroups[side] += making;
    if (side === 'cached' && cache) dispatches = (cache.stats.misses + cache.stats.hits - asked) / Math.ceil(batches / 3);
    device.createBindGroup = make;
    unregisterWebgpuTrainingKernels();
  });
  const each = (total: number, times: number[]) => fmt(total / times.length, 2);
  console.log(`| ${name} | ${dispatches} | ${leastMedian(ms.cached)} | ${each(inBindGroups.cached, ms.cached)} | ${leastMedian(ms.plain)} | ${each(inBindGroups.plain, ms.plain)} |`);
  folded.restore();
  tf.dispose(xs);
  model.dispose();
}

// One training step's input: the batch's bytes gathered, uploaded and preprocessed.
const count = batch * 2;
const set = { images: Pixels.from(Uint8Array.from({ length: count * size * size * 3 }, (_, i) => (i * 97) % 256), size * size * 3), labels: new Int32Array(count), count, size, sources: [] as string[] };
const picks = Int32Array.from({ length: batch }, (_, i) => (i * 7) % count);
console.log(`\nImage batches (batches.ts imageBatch), ${size} px, batch ${batch}, submit dropped; host ms a batch over ${batches} batches each, in alternating rounds`);
console.log('| network (preprocessing) | TL\'s kernel: least / median host ms | dispatches / uploads | tfjs\'s ops: least / median | dispatches / uploads |');
console.log('| --- | --- | --- | --- | --- |');
for (const name of ['resnet50', 'mobilenetv2'] as const) {
  const preprocess = preprocessOf(name);
  const batchOf = () => imageBatch(set, picks, preprocess);
  const work = { tl: '', tfjs: '' };
  const ms = await alternatingRounds(['tl', 'tfjs'] as const, async (side, queue) => {
    if (side === 'tl') registerWebgpuTrainingKernels();
    await queue(batchOf);
    const w = await countWork(async () => {
      const x = batchOf();
      await x.data();
      x.dispose();
    });
    work[side] = `${w.dispatches} / ${w.uploads}`;
    unregisterWebgpuTrainingKernels();
  });
  console.log(`| ${name} (${preprocess.channels}, scaled) | ${leastMedian(ms.tl)} | ${work.tl} | ${leastMedian(ms.tfjs)} | ${work.tfjs} |`);
}
