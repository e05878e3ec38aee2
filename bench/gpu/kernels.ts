/**
 * Per-kernel table of the GPU benchmark: the convolution, depthwise, BatchNorm and reduction
 * kernels TL replaces, each timed with tfjs's own kernel and with TL's (same process, kernels
 * swapped by unregistering), on ResNet50 and MobileNetV2 shapes at batch 32.
 */
import * as tf from '@tensorflow/tfjs';
import { recordProducts, runsOn, setDoubleBuffering, setGemmTile, setWarpBlocks, setSplitEpilogues, sliceCount, tileFor, tileName, tilesFor, TILES, type TileName } from '../../src/executor/backends/webgpu/gemm.ts';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { drawBatchAffines, type GeometricOp } from '../../src/executor/augment/affine.ts';
import { createRng } from '../../src/executor/augment/rng.ts';
import { sampleAffine } from '../../src/executor/augment/sampler.ts';
import { fmt, kernelMs, msPerCall } from './timing.ts';

export interface KernelRow {
  readonly name: string;
  readonly what: string;
  readonly flops: number | null;
  readonly stockMs: number;
  readonly tlMs: number;
  readonly stockGpuMs: number | null;
  readonly tlGpuMs: number | null;
  /** What TL's call ran its GEMM products on (`runsOn`: tile/slices or tfjs), '+' between products; '' for none. */
  readonly tlRunsOn: string;
}

export interface Sizes { readonly batch: number; readonly shrink: number }

type Make = () => tf.Tensor | tf.Tensor[];

/** About half a second of calls, at least 2 and at most 20. */
async function timed(make: Make, timestamps: boolean): Promise<{ ms: number; gpuMs: number | null }> {
  const first = await msPerCall(make, 1, 1);
  const reps = Math.max(2, Math.min(20, Math.round(500 / Math.max(first, 0.01))));
  return { ms: await msPerCall(make, reps, 0), gpuMs: await kernelMs(make, timestamps) };
}

async function ab(name: string, what: string, flops: number | null, make: Make, timestamps: boolean): Promise<KernelRow> {
  unregisterWebgpuTrainingKernels();
  const stock = await timed(make, timestamps);
  registerWebgpuTrainingKernels();
  const tl = await timed(make, timestamps);
  const backend = webgpuBackendOf(tf.backend());
  const tlRunsOn = recordProducts(() => tf.dispose(make())).map((p) => runsOn(backend, p)).join(' + ');
  const row = { name, what, flops, stockMs: stock.ms, tlMs: tl.ms, stockGpuMs: stock.gpuMs, tlGpuMs: tl.gpuMs, tlRunsOn };
  console.log(`  ${name} ${what}: tfjs ${fmt(row.stockMs)} ms, TL ${fmt(row.tlMs)} ms`);
  return row;
}

const CONVS: [string, number, number, number, number, number][] = [
  // name, H, Cin, Cout, k, stride (ResNet50 at 224; the profile in ../shared/gpu)
  ['conv1 7x7/2 3->64', 224, 3, 64, 7, 2],
  ['1x1 64->64', 56, 64, 64, 1, 1],
  ['3x3 64->64', 56, 64, 64, 3, 1],
  ['1x1 64->256', 56, 64, 256, 1, 1],
  ['3x3/2 128', 56, 128, 128, 3, 2],
  // The Keras layout (TL's zoo) strides the first 1x1 of a block and its shortcut instead.
  ['1x1/2 256->128', 56, 256, 128, 1, 2],
  ['1x1/2 256->512', 56, 256, 512, 1, 2],
  ['3x3 256', 14, 256, 256, 3, 1],
  ['1x1 1024->256', 14, 1024, 256, 1, 1],
  ['3x3 512', 7, 512, 512, 3, 1],
  // MobileNetV2's thin pointwise convolutions (few output or input channels, many positions).
  ['1x1 16->96 (MobileNetV2)', 112, 16, 96, 1, 1],
  ['1x1 144->24 (MobileNetV2)', 56, 144, 24, 1, 1],
];

const DEPTHWISE: [string, number, number, number][] = [
  // name, H, C, stride (MobileNetV2 at 224)
  ['dw 3x3/2 96', 112, 96, 2],
  ['dw 3x3 144', 56, 144, 1],
  ['dw 3x3 192', 28, 192, 1],
  ['dw 3x3 576', 14, 576, 1],
  ['dw 3x3 960', 7, 960, 1],
];

/** One of CONVS at batch `n`: its tensors, FLOPs, and each pass as a call. */
function convCase(conv: (typeof CONVS)[number], n: number, side: (h: number) => number) {
  const [, h0, ci, co, k, s] = conv;
  const h = side(h0);
  const x = tf.randomNormal([n, h, h, ci]);
  const w = tf.randomNormal([k, k, ci, co]);
  const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same');
  const dy = tf.randomNormal(y.shape);
  const flops = 2 * n * (y.shape[1] ?? 0) * (y.shape[2] ?? 0) * co * ci * k * k;
  const attrs = { strides: [s, s], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
  return {
    flops,
    // The GEMMs' M x N: the filter gradient's is the filter, the input gradient's dx's positions by its channels.
    filterMN: [k * k * ci, co] as const,
    inputMN: [n * h * h, ci] as const,
    forwardMNK: [n * (y.shape[1] ?? 0) * (y.shape[2] ?? 0), co, k * k * ci] as const,
    forward: () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same'),
    filterGrad: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor,
    inputGrad: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor,
    dispose: () => tf.dispose([x, w, y, dy]),
  };
}

export async function kernelRows(sizes: Sizes, timestamps: boolean): Promise<KernelRow[]> {
  const { batch: n, shrink } = sizes;
  const side = (h: number) => Math.max(2, Math.round(h / shrink));
  const rows: KernelRow[] = [];
  for (const conv of CONVS) {
    const name = conv[0];
    const c = convCase(conv, n, side);
    rows.push(await ab(name, 'forward', c.flops, c.forward, timestamps));
    if (sliceCount(...c.forwardMNK, TILES['64x64'], 2 ** 31) > 1) {
      // Few enough tiles that the forward product splits K (since session 18): the same with
      // every product with an epilogue run whole, as before.
      setSplitEpilogues(false);
      try {
        rows.push(await ab(name, 'forward, K unsplit', c.flops, c.forward, timestamps));
      } finally {
        setSplitEpilogues(true);
      }
    }
    rows.push(await ab(name, 'filter grad', c.flops, c.filterGrad, timestamps));
    rows.push(await ab(name, 'input grad', c.flops, c.inputGrad, timestamps));
    c.dispose();
  }
  for (const [name, h0, c, s] of DEPTHWISE) {
    const h = side(h0);
    const x = tf.randomNormal([n, h, h, c]);
    const w = tf.randomNormal([3, 3, c, 1]);
    const y = tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same');
    const dy = tf.randomNormal(y.shape);
    const flops = 2 * n * (y.shape[1] ?? 0) * (y.shape[2] ?? 0) * c * 9;
    const attrs = { strides: [s, s], pad: 'same', dilations: [1, 1], dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
    rows.push(await ab(name, 'filter grad', flops, () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor, timestamps));
    rows.push(await ab(name, 'input grad', flops, () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor, timestamps));
    tf.dispose([x, w, y, dy]);
  }
  {
    const h = side(56);
    const x = tf.randomNormal([n, h, h, 256]);
    const dy = tf.randomNormal(x.shape);
    const gamma = tf.ones([256]);
    const beta = tf.zeros([256]);
    const bnGrad = tf.grads((v: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const m = tf.moments(v, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(v, m.mean, m.variance, b as tf.Tensor1D, g as tf.Tensor1D, 1e-3), dy));
    });
    const label = `${n}x${h}x${h}x256`;
    rows.push(await ab(`BatchNorm ${label}`, 'training-mode gradient (x, gamma, beta)', null, () => bnGrad([x, gamma, beta]), timestamps));
    // The layer as a training step runs it: statistics, normalisation, moving averages, all gradients.
    const layer = tf.layers.batchNormalization({});
    layer.apply(x);
    const xv = tf.variable(x);
    const layerVars = [xv, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
    const layerStep = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xv, { training: true }) as tf.Tensor, dy)), layerVars);
      value.dispose();
      return Object.values(grads);
    };
    rows.push(await ab(`BatchNorm layer ${label}`, 'training mode, forward and all gradients', null, layerStep, timestamps));
    tf.dispose(xv);
    layer.dispose();

    rows.push(await ab(`sum ${label}`, 'to a scalar', null, () => tf.sum(x), timestamps));
    rows.push(await ab(`sum ${label}`, 'per channel', null, () => tf.sum(x, [0, 1, 2]), timestamps));
    rows.push(await ab(`moments ${label}`, 'per channel', null, () => { const m = tf.moments(x, [0, 1, 2]); return [m.mean, m.variance]; }, timestamps));
    tf.dispose([x, dy, gamma, beta]);
  }
  {
    // The training batch's augmentation: tfjs's kernels here means the portable sampler (positions
    // and weights computed in JavaScript and uploaded), TL's the resampler on the GPU.
    const h = side(224);
    const images = tf.randomUniform([n, h, h, 3]) as tf.Tensor4D;
    const rng = createRng(1);
    const ops: GeometricOp[] = [{ op: 'flip', mode: 'horizontal', origin: { start: 0, end: 0, line: 1, column: 1 } }, { op: 'rotate', degrees: 15, origin: { start: 0, end: 0, line: 1, column: 1 } }];
    const resample = () => tf.tidy(() => sampleAffine(images, drawBatchAffines(ops, rng, n, h, h)!));
    rows.push(await ab(`augment ${n}x${h}x${h}x3`, 'flip, rotate 15 (the sampler, host work included)', null, resample, timestamps));
    images.dispose();
  }
  return rows;
}

export interface TileRow {
  readonly name: string;
  readonly pass: string;
  readonly flops: number;
  readonly ms: Readonly<Partial<Record<TileName, number>>>;
  readonly auto: TileName;
  /** On the `auto` tile with its operand tiles holding one step, as before session 19 (the others hold two where they fit). */
  readonly oneBufferMs: number;
  /** The same with each warp taking 16 x 2 invocations of the tile's grid instead of 8 x 4, as before session 20 (tiles 64 or more columns wide; the thinner ones' warps are unchanged). */
  readonly warpRowsMs?: number;
}

/**
 * TL's convolution products (forward, filter and input gradients) with each GEMM tile that fits
 * forced (gemm.ts `tilesFor`), to compare the tiles shape by shape, and on the tile an unmeasured
 * product takes with one step's operand tiles instead of two (`setDoubleBuffering`) and with its
 * warps laid over the grid as rows of 16 (`setWarpBlocks`): GPU ms from timestamp queries where
 * the adapter has them (`timestamps`), else wall ms a call.
 */
export async function tileRows(sizes: Sizes, timestamps: boolean): Promise<TileRow[]> {
  const { batch: n, shrink } = sizes;
  const side = (h: number) => Math.max(2, Math.round(h / shrink));
  registerWebgpuTrainingKernels();
  const workgroupBytes = webgpuBackendOf(tf.backend()).device.limits.maxComputeWorkgroupStorageSize;
  const rows: TileRow[] = [];
  for (const conv of CONVS) {
    const c = convCase(conv, n, side);
    const passes = [['forward', c.forward, c.forwardMNK], ['filter grad', c.filterGrad, c.filterMN], ['input grad', c.inputGrad, c.inputMN]] as const;
    for (const [pass, make, [m, nn]] of passes) {
      // One call's GPU time is exact (Dawn's timestamps unquantized, setup.ts) and quick to take;
      // without timestamps, about half a second of calls.
      const time = async (tile: TileName) => {
        setGemmTile(tile);
        try {
          return (await kernelMs(make, timestamps)) ?? (await timed(make, false)).ms;
        } finally {
          setGemmTile('auto');
        }
      };
      const ms: Partial<Record<TileName, number>> = {};
      for (const tile of tilesFor(m, nn, workgroupBytes)) ms[tile] = await time(tile);
      const auto = tileName(tileFor(m, nn));
      // The unmeasured tile as it ran before a change, the change switched off meanwhile.
      const before = async (change: (on: boolean) => void) => {
        change(false);
        return time(auto).finally(() => change(true));
      };
      const oneBufferMs = await before(setDoubleBuffering);
      const warpRowsMs = TILES[auto].cols >= 64 ? await before(setWarpBlocks) : undefined;
      const row = { name: conv[0], pass, flops: c.flops, ms, auto, oneBufferMs, ...(warpRowsMs !== undefined && { warpRowsMs }) };
      console.log(`  ${row.name} ${pass}: ${Object.entries(ms).map(([tile, t]) => `${tile} ${fmt(t)} ms`).join(', ')}; ${auto} with one buffer ${fmt(oneBufferMs)} ms, with warps of 16 x 2 ${fmt(warpRowsMs)} ms`);
      rows.push(row);
    }
    c.dispose();
  }
  return rows;
}

export function tileTable(rows: readonly TileRow[]): string {
  const names = Object.keys(TILES) as TileName[];
  const lines = [
    `| convolution | pass | ${names.map((name) => `${name} ms`).join(' | ')} | ${names.map((name) => `TFLOP/s, ${name}`).join(' | ')} | unmeasured takes | it with one buffer, ms | it with warps of 16 x 2, ms |`,
    `| --- | --- | ${[...names, ...names].map(() => '---').join(' | ')} | --- | --- | --- |`,
  ];
  for (const r of rows) {
    const ms = (name: TileName) => r.ms[name];
    lines.push(`| ${r.name} | ${r.pass} | ${names.map((name) => fmt(ms(name))).join(' | ')} | ${names.map((name) => (ms(name) === undefined ? '-' : fmt(r.flops / ms(name)! / 1e9, 2))).join(' | ')} | ${r.auto} | ${fmt(r.oneBufferMs)} | ${fmt(r.warpRowsMs)} |`);
  }
  return lines.join('\n');
}

export function kernelTable(rows: readonly KernelRow[]): string {
  const lines = [
    '| kernel | what | tfjs ms | TL ms | speed-up | TL TFLOP/s | tfjs GPU ms | TL GPU ms | TL runs on |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const tflops = r.flops === null ? '-' : fmt(r.flops / r.tlMs / 1e9, 3);
    lines.push(`| ${r.name} | ${r.what} | ${fmt(r.stockMs)} | ${fmt(r.tlMs)} | ${fmt(r.stockMs / r.tlMs, 1)}x | ${tflops} | ${fmt(r.stockGpuMs)} | ${fmt(r.tlGpuMs)} | ${r.tlRunsOn || '-'} |`);
  }
  return lines.join('\n');
}
