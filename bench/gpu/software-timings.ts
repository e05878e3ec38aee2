/**
 * Timings of TL's webgpu kernels on the software adapter (Mesa's llvmpipe: shaders on this
 * machine's CPU cores), to check a kernel change here before a GPU run measures it. Not GPU speed:
 * a CPU favours large tiles and minds different costs. Prints two tables:
 *   - every GEMM tile forced in turn on three convolutions (forward, input gradient, filter gradient
 *     with its forward), and 64 x 64 with its warps as rows of 16 (`setWarpBlocks(false)`, as
 *     before session 20), least of 3 rounds that take the options in turn;
 *   - the depthwise filter gradient on three MobileNetV2 shapes (the kernel called directly), least
 *     of 5; run it at two commits to compare them.
 *
 *   npx tsx bench/gpu/software-timings.ts [tiles|depthwise]...   (default: both)
 */
import * as tf from '@tensorflow/tfjs';
import { setGemmTile, setWarpBlocks, TILES, type TileName } from '../../src/executor/backends/webgpu/gemm.ts';
import { registerWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { setUpWebgpu } from './setup.ts';
import { fmt, msPerCall } from './timing.ts';

process.env.BENCH_SOFTWARE = '1';
const device = await setUpWebgpu();
registerWebgpuTrainingKernels();
const sections = new Set(process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['tiles', 'depthwise']);
console.log(`${device.adapter}, ${new Date().toISOString()}\n`);

if (sections.has('tiles')) {
  const names = Object.keys(TILES) as TileName[];
  // Each tile, then 64 x 64 with warps of 16 x 2.
  const options: [string, TileName, boolean][] = [...names.map((name): [string, TileName, boolean] => [name, name, true]), ['64x64, warps 16 x 2', '64x64', false]];
  console.log(`| convolution (batch 4) | pass | ${options.map(([label]) => `${label} ms`).join(' | ')} |`);
  console.log(`| --- | --- | ${options.map(() => '---').join(' | ')} |`);
  const convs: [string, [number, number, number, number], [number, number, number, number]][] = [
    ['3x3 256 at 14 px', [4, 14, 14, 256], [3, 3, 256, 256]],
    ['1x1 64 -> 256 at 28 px', [4, 28, 28, 64], [1, 1, 64, 256]],
    // Few output channels (a MobileNetV2 projection): the thin tiles' case.
    ['1x1 144 -> 24 at 28 px', [4, 28, 28, 144], [1, 1, 144, 24]],
  ];
  for (const [name, xs, ws] of convs) {
    const x = tf.randomUniform(xs, -1, 1) as tf.Tensor4D;
    const w = tf.randomUniform(ws, -1, 1) as tf.Tensor4D;
    const y = tf.conv2d(x, w, 1, 'same');
    const passes: [string, () => tf.Tensor][] = [
      ['forward', () => tf.conv2d(x, w, 1, 'same')],
      ['input gradient', () => tf.conv2dTranspose(y, w, xs, 1, 'same')],
      ['filter gradient (with its forward)', () => tf.tidy(() => tf.grad((ww: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, ww as tf.Tensor4D, 1, 'same'), y)))(w))],
    ];
    for (const [pass, make] of passes) {
      const best = new Map<string, number>();
      for (let round = 0; round < 3; round++) {
        for (const [label, tile, warpBlocks] of options) {
          setGemmTile(tile);
          setWarpBlocks(warpBlocks);
          best.set(label, Math.min(best.get(label) ?? Infinity, await msPerCall(make, 3, 1)));
        }
      }
      setGemmTile('auto');
      setWarpBlocks(true);
      console.log(`| ${name} | ${pass} | ${options.map(([label]) => fmt(best.get(label)!, 0)).join(' | ')} |`);
    }
    tf.dispose([x, w, y]);
  }
  console.log('');
}

if (sections.has('depthwise')) {
  console.log('| depthwise filter gradient (batch 8, 3x3, same) | ms |');
  console.log('| --- | --- |');
  const shapes: [number[], number][] = [[[8, 56, 56, 144], 1], [[8, 112, 112, 96], 2], [[8, 14, 14, 576], 1]];
  for (const [xs, stride] of shapes) {
    const x = tf.randomUniform(xs, -1, 1);
    const out = Math.ceil(xs[1]! / stride);
    const dy = tf.randomUniform([xs[0]!, out, out, xs[3]!], -1, 1);
    const attrs = { strides: [stride, stride], pad: 'same', dilations: [1, 1], filterShape: [3, 3, xs[3]!, 1] };
    const make = () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    let best = Infinity;
    for (let i = 0; i < 5; i++) best = Math.min(best, await msPerCall(make, 2, 1));
    console.log(`| ${xs.slice(1).join('x')} stride ${stride} | ${fmt(best, 1)} |`);
    tf.dispose([x, dy]);
  }
}
