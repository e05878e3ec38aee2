/**
 * Conv2DBackpropFilter and Conv2DBackpropInput cases: random shapes (odd sizes, batch 1 and many,
 * non-square filters and strides, every padding form), shapes that make the GEMM split K into
 * slices and sum them in more than one pass, and conv2dTranspose. tfjs allows no dilation in these
 * gradients, so none is tested; the forward cases have some. Then forward convolutions, plain and
 * fused with a bias and an activation. The GEMM picks its tile by the product's shape; every case
 * runs again with the 128 x 128 tile forced, and the shaped ones with each of the other tiles
 * (the thin ones, 128 x 32 and 256 x 16, on products of any width: several column tiles) and on
 * 64 x 64 with the warp layout before session 20, and on 64 x 64 with K whole.
 */
import * as tf from '@tensorflow/tfjs';
import { CONV_ADD } from '../../../src/executor/backends/fused-activation.ts';
import { setGemmTile, setWarpBlocks, type TileChoice } from '../../../src/executor/backends/webgpu/gemm.ts';
import { choose, pick, random as seeded, sameOnBoth, weightedSum, type ParityCase } from '../parity.ts';

export type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
interface Conv { x: [number, number, number, number]; w: [number, number, number, number]; strides: [number, number]; pad: Pad }

/** Whether tfjs gives the convolution a non-empty output (it sizes numeric padding by the filter height and stride height alone). */
function nonEmpty(c: Conv): boolean {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, 1, c.pad);
  return info.outHeight > 0 && info.outWidth > 0;
}

export function randomPad(next: () => number): Pad {
  const kind = choose(next, ['same', 'valid', 'number', 'explicit'] as const);
  if (kind === 'number') return pick(next, 0, 2);
  if (kind === 'explicit') return [[0, 0], [pick(next, 0, 2), pick(next, 0, 2)], [pick(next, 0, 2), pick(next, 0, 2)], [0, 0]];
  return kind;
}

function randomConvs(count: number, seed: number): Conv[] {
  const next = seeded(seed);
  const out: Conv[] = [];
  while (out.length < count) {
    const x: Conv['x'] = [choose(next, [1, 1, 2, 3, 5]), pick(next, 1, 13), pick(next, 1, 13), choose(next, [1, 2, 3, 5, 8, 16, 17])];
    const w: Conv['w'] = [choose(next, [1, 2, 3, 5]), choose(next, [1, 2, 3, 5]), x[3], choose(next, [1, 3, 4, 7, 16, 33, 64])];
    const c: Conv = { x, w, strides: [choose(next, [1, 1, 2, 3]), choose(next, [1, 1, 2])], pad: randomPad(next) };
    if (nonEmpty(c)) out.push(c);
  }
  return out;
}

/** Shapes that exercise the tiling edges and the split of K (see gemm.ts). */
const SHAPED: Conv[] = [
  // 1x1 stride 1: the filter gradient is exactly x^T dy.
  { x: [4, 8, 8, 64], w: [1, 1, 64, 64], strides: [1, 1], pad: 'valid' },
  // More than one 64-wide tile in M and in N, with ragged edges.
  { x: [2, 6, 6, 130], w: [1, 1, 130, 70], strides: [1, 1], pad: 'same' },
  { x: [3, 9, 9, 40], w: [3, 3, 40, 65], strides: [2, 2], pad: 'same' },
  // ResNet-like stem: 7x7 stride 2 from 3 channels.
  { x: [2, 32, 32, 3], w: [7, 7, 3, 16], strides: [2, 2], pad: 'same' },
  // K = 32768: 256 slices, summed in one pass.
  { x: [8, 64, 64, 3], w: [3, 3, 3, 8], strides: [1, 1], pad: 'same' },
  // K = 36864: 288 slices, summed in two passes.
  { x: [9, 64, 64, 2], w: [1, 1, 2, 4], strides: [1, 1], pad: 'valid' },
  // Batch of 32, the training batch.
  { x: [32, 7, 7, 16], w: [3, 3, 16, 32], strides: [1, 1], pad: 'same' },
  // 1x1 with a stride and no padding: dx from the product over dy's rows, spread onto the grid.
  { x: [2, 8, 8, 24], w: [1, 1, 24, 40], strides: [2, 2], pad: 'valid' },
  { x: [3, 7, 9, 16], w: [1, 1, 16, 8], strides: [2, 3], pad: 'same' },
  { x: [2, 7, 7, 130], w: [1, 1, 130, 70], strides: [2, 2], pad: 'same' },
  // ... and with padding, where the grid moves.
  { x: [2, 6, 6, 8], w: [1, 1, 8, 4], strides: [2, 2], pad: 1 },
  // Strided filters larger than 1x1: every phase of the sub-pixel split has taps.
  { x: [2, 35, 35, 24], w: [3, 3, 24, 40], strides: [2, 2], pad: 'valid' },
  { x: [3, 12, 12, 16], w: [3, 3, 16, 16], strides: [2, 2], pad: 'same' },
  { x: [2, 11, 13, 5], w: [5, 5, 5, 7], strides: [3, 3], pad: 'same' },
  { x: [2, 8, 8, 6], w: [2, 2, 6, 9], strides: [2, 2], pad: 'valid' },
  { x: [2, 9, 10, 4], w: [3, 2, 4, 6], strides: [2, 3], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  // An even input, 'valid': the one-tap phase (odd rows and columns) has a last row and column
  // that no output position reads, where its dy would be read past the grid.
  { x: [2, 8, 8, 8], w: [3, 3, 8, 12], strides: [2, 2], pad: 'valid' },
  // 1x1 stride 1 padded on one side of each axis (not a plain product of x and w).
  { x: [2, 5, 6, 8], w: [1, 1, 8, 12], strides: [1, 1], pad: [[0, 0], [0, 1], [2, 0], [0, 0]] },
  { x: [1, 4, 5, 5], w: [1, 1, 5, 7], strides: [1, 1], pad: [[0, 0], [1, 0], [0, 0], [0, 0]] },
  // ... and padded only after the data (bottom and right): dy has more positions than x.
  { x: [2, 4, 5, 8], w: [1, 1, 8, 4], strides: [1, 1], pad: [[0, 0], [0, 1], [0, 2], [0, 0]] },
  // Phases with taps along one axis only.
  { x: [2, 9, 9, 4], w: [1, 3, 4, 5], strides: [2, 2], pad: 'same' },
  // More than one 128-wide tile in M and in N, ragged: the 128 tile without forcing.
  { x: [2, 12, 12, 260], w: [1, 1, 260, 200], strides: [1, 1], pad: 'valid' },
  { x: [2, 10, 10, 136], w: [3, 3, 136, 130], strides: [1, 1], pad: 'same' },
];

/**
 * `c` run with the GEMM's tile forced to `tile`, and with a change switched off where `before`
 * names one (the benchmark's before-and-after switches, e.g. `setWarpBlocks`).
 */
function onTile(tile: TileChoice, c: ParityCase, before?: { name: string; change: (on: boolean) => void }): ParityCase {
  return {
    name: `${c.name}, tile ${tile}${before ? `, ${before.name}` : ''}`,
    run: async (backend) => {
      setGemmTile(tile);
      before?.change(false);
      try {
        return await c.run(backend);
      } finally {
        before?.change(true);
        setGemmTile('auto');
      }
    },
  };
}

const TRANSPOSED = [
  { x: [2, 5, 5, 8], w: [3, 3, 4, 8], strides: [2, 2] as [number, number], pad: 'same' as const, out: [2, 10, 10, 4] as [number, number, number, number] },
  { x: [1, 4, 6, 3], w: [2, 3, 5, 3], strides: [3, 1] as [number, number], pad: 'valid' as const, out: [1, 11, 8, 5] as [number, number, number, number] },
  { x: [2, 4, 4, 6], w: [1, 1, 3, 6], strides: [2, 2] as [number, number], pad: 'valid' as const, out: [2, 7, 8, 3] as [number, number, number, number] },
];

const DILATED: (Conv & { dilations: [number, number] })[] = [
  { x: [2, 11, 11, 8], w: [3, 3, 8, 12], strides: [1, 1], pad: 'same', dilations: [2, 2] },
  { x: [1, 9, 13, 5], w: [2, 3, 5, 7], strides: [1, 1], pad: 'valid', dilations: [3, 2] },
];

/**
 * Forward convolutions whose few outputs and long K make the GEMM split K (gemm.ts `sliceCount`),
 * the bias, residual and activation then applied by the pass that adds up the slices: 288 slices,
 * more than that pass adds in one loop (the column-sum program takes them down first), four
 * columns an invocation; and 22 slices, one column an invocation.
 */
const SPLIT_FORWARD: Conv[] = [
  { x: [1, 2, 2, 4096], w: [3, 3, 4096, 4], strides: [1, 1], pad: 'same' },
  { x: [2, 5, 5, 300], w: [3, 3, 300, 6], strides: [1, 1], pad: 'valid' },
];

/** Forward convolutions: plain, dilated, and fused with a bias and each activation TL applies in place (and one, elu, it leaves to tfjs). */
function forwardCases(random: readonly Conv[]): { plain: ParityCase[]; shaped: ParityCase[] } {
  const name = (c: Conv) => `x ${c.x.join('x')} w ${c.w.join('x')} strides ${c.strides.join(',')} pad ${JSON.stringify(c.pad)}`;
  const plain = (c: Conv & { dilations?: [number, number] }) =>
    sameOnBoth(`forward: ${name(c)}${c.dilations ? ` dilations ${c.dilations.join(',')}` : ''}`, [c.x, c.w], (x, w) =>
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad as 'same', 'NHWC', c.dilations ?? 1),
    );
  const activations = ['linear', 'relu', 'relu6', 'elu'] as const;
  const fused = (c: Conv, i: number) => {
    const activation = activations[i % activations.length]!;
    const withBias = i % 5 !== 4;
    return sameOnBoth(`fused forward, ${activation}${withBias ? ' with bias' : ''}: ${name(c)}`, [c.x, c.w, [c.w[3]]], (x, w, b) =>
      // Scaled so that relu6 clips some values above 6 as well as below 0.
      tf.fused.conv2d({ x: tf.mul(x!, 4) as tf.Tensor4D, filter: w as tf.Tensor4D, strides: c.strides, pad: c.pad as 'same', bias: withBias ? b : undefined, activation }),
    );
  };
  return {
    plain: [...random.map(plain), ...DILATED.map(plain), ...random.slice(0, 12).map(fused), ...random.slice(0, 8).map((c, i) => withResidual(c, i % 2 === 0 ? 'relu' : 'linear'))],
    shaped: [
      ...SHAPED.map(plain), ...SHAPED.map((c, i) => fused(c, i + 1)), ...SHAPED.map((c, i) => withResidual(c, i % 3 === 2 ? 'linear' : 'relu')), withResidual(SHAPED[1]!, 'relu', 'NCHW'), withResidual(SHAPED[2]!, 'linear', 'NCHW'),
      ...SPLIT_FORWARD.flatMap((c, i) => [plain(c), fused(c, 2 - i), withResidual(c, i === 0 ? 'relu' : 'linear')]),
    ],
  };
}

/**
 * act(conv(x, w) + b + residual) as the inference fold runs it on webgpu: one GEMM with the
 * residual added in its write-out (CONV_ADD; in channels-first, which TL's GEMM does not take,
 * tfjs's convolution and one pass of the sum); on cpu, the ops it stands for.
 */
function withResidual(c: Conv, activation: 'relu' | 'linear', format: 'NHWC' | 'NCHW' = 'NHWC'): ParityCase {
  const nhwc = tf.backend_util.computeConv2DInfo(c.x, c.w, c.strides, 1, c.pad as 'same').outShape;
  const [b, h, w, ch] = nhwc;
  const x = format === 'NHWC' ? c.x : [c.x[0], c.x[3], c.x[1], c.x[2]];
  const out = format === 'NHWC' ? nhwc : [b, ch, h, w];
  return sameOnBoth(`forward with a residual, ${activation}, ${format}: x ${c.x.join('x')} w ${c.w.join('x')} strides ${c.strides.join(',')} pad ${JSON.stringify(c.pad)}`, [x, c.w, [c.w[3]], out], (xx, ww, bb, rr) => {
    const attrs = { strides: c.strides, pad: c.pad, dilations: 1, dataFormat: format, activation };
    if (tf.getKernel(CONV_ADD, tf.getBackend()) !== undefined) return tf.engine().runKernel(CONV_ADD, { x: tf.mul(xx!, 4), filter: ww!, bias: bb!, residual: rr! }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    const conv = tf.conv2d(tf.mul(xx!, 4) as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad as 'same', format);
    const sum = tf.add(tf.add(conv, format === 'NHWC' ? bb! : tf.reshape(bb!, [ch!, 1, 1])), rr!);
    return activation === 'relu' ? tf.relu(sum) : sum;
  });
}

/** dx and dw of conv2d through tf.grads, then conv2dTranspose (Conv2DBackpropInput as a forward op), then forward convolutions. */
export function conv2dCases(): ParityCase[] {
  const gradCase = (c: Conv) =>
    sameOnBoth(`dx, dw: x ${c.x.join('x')} w ${c.w.join('x')} strides ${c.strides.join(',')} pad ${JSON.stringify(c.pad)}`, [c.x, c.w], (x, w) =>
      tf.grads((xx: tf.Tensor, ww: tf.Tensor) => weightedSum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad)))([x!, w!]),
    );
  // With a bias: its gradient comes from the filter gradient's pass when that splits K (gemm.ts).
  const biasCase = (c: Conv, i: number) => {
    const activation = i % 3 === 2 ? 'relu' : 'linear';
    return sameOnBoth(`dx, dw, db with a bias, ${activation}: x ${c.x.join('x')} w ${c.w.join('x')} strides ${c.strides.join(',')} pad ${JSON.stringify(c.pad)}`, [c.x, c.w, [c.w[3]]], (x, w, b) =>
      tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => weightedSum(tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: ww as tf.Tensor4D, bias: bb, strides: c.strides, pad: c.pad as 'same', activation })))([x!, w!, b!]),
    );
  };
  const convs = randomConvs(30, 2026);
  const forward = forwardCases(convs);
  const random = [...convs.map(gradCase), ...convs.slice(0, 8).map(biasCase), ...forward.plain];
  const shaped = [...SHAPED.map(gradCase), ...SHAPED.map(biasCase), ...forward.shaped];
  const grads = [
    ...random,
    ...shaped,
    ...[...random, ...shaped].map((c) => onTile('128x128', c)),
    ...(['64x64', '128x64', '64x128', '128x32', '256x16'] as const).flatMap((tile) => shaped.map((c) => onTile(tile, c))),
    ...shaped.map((c) => onTile('64x64', c, { name: 'warps 16 x 2', change: setWarpBlocks })),
    // Every product with K whole where the rule splits it (a choice the tuner may make).
    ...shaped.map((c) => onTile('64x64/1', c)),
  ];
  const transposed = TRANSPOSED.map((c) =>
    sameOnBoth(`conv2dTranspose to ${c.out.join('x')}`, [c.x, c.w], (x, w) => tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, c.out, c.strides, c.pad)),
  );
  // An input gradient of batch 32 at 28x28x256 (ResNet50's third stage) on the 128 tile: few
  // enough tiles to split K, too many outputs (6.4M) for one column-sum dispatch row of partials.
  const wide = { x: [32, 28, 28, 128], w: [1, 1, 256, 128], out: [32, 28, 28, 256] as [number, number, number, number] };
  const wideCase = onTile('128x128', sameOnBoth(`conv2dTranspose to ${wide.out.join('x')} (6.4M outputs)`, [wide.x, wide.w], (x, w) =>
    tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, wide.out, 1, 'valid'),
  ));
  return [...grads, ...transposed, wideCase];
}
