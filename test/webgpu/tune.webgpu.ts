/**
 * GEMM tiles chosen by measurement (src/executor/backends/webgpu/tune.ts): every product of a
 * training step is measured once and then takes its measured tile, and the numbers stay the same.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { CONV_ADD } from '../../src/executor/backends/fused-activation.ts';
import { choicesFor, isChoice, measuredChoices, parseChoice, recordProducts, runsOn, setUnmeasuredTile, sliceCount, tileBytes, tileFor, tileName, TILES, tilesFor } from '../../src/executor/backends/webgpu/gemm.ts';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { prepareForTraining, selectBackend } from '../../src/executor/backends/select.ts';
import { cacheKey, trainingPass, tuneGemmTiles } from '../../src/executor/backends/webgpu/tune.ts';
import { openTileCache } from '../../src/executor/backends/webgpu/tile-cache.ts';
import { relativeError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** A small convnet with products on both sides of the 128 rule (M x N from 8 x 8 to 576 x 144), and input gradients strided and not. */
function convnet(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 16] });
  let x = tf.layers.conv2d({ filters: 144, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 1, strides: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(x) as tf.SymbolicTensor });
}

async function gradients(model: tf.LayersModel, x: tf.Tensor): Promise<Float32Array[]> {
  const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(x) as tf.Tensor) as tf.Scalar, model.trainableWeights.map((w) => w.read() as tf.Variable));
  const out = await Promise.all(Object.values(grads).map(async (g) => (await g.data()) as Float32Array));
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

/** What `run` gives on webgpu, and the shader keys of the programs it ran through tfjs's `runWebGPUProgram`, in order. */
async function programsOf(run: () => tf.Tensor): Promise<{ values: Float32Array; programs: string[] }> {
  const backend = webgpuBackendOf(tf.backend());
  const own = backend.runWebGPUProgram;
  const programs: string[] = [];
  backend.runWebGPUProgram = function (program, ...rest) {
    programs.push(program.shaderKey);
    return own.call(this, program, ...rest);
  };
  try {
    const y = run();
    const values = (await y.data()) as Float32Array;
    y.dispose();
    return { values, programs };
  } finally {
    backend.runWebGPUProgram = own;
  }
}

describe.skipIf(!env.ok)(`GEMM tiles by measurement on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  afterAll(() => measuredChoices.clear());

  it('measures every product of a training step once, and each then takes its measured tile', async () => {
    await tf.setBackend('webgpu');
    measuredChoices.clear();
    const model = convnet();
    const x = tf.randomUniform([4, 12, 12, 16], -1, 1, 'float32', 5);
    const before = await gradients(model, x);
    const pass = trainingPass(model, 4);
    const tensors = tf.memory().numTensors;
    const result = await tuneGemmTiles(pass);
    expect(tf.memory().numTensors).toBe(tensors);
    // Forward, filter and input gradients of three convolutions (the first one's input gradient is not needed).
    expect(result.products).toBeGreaterThanOrEqual(8);
    expect(measuredChoices.size).toBe(result.products);
    const products = recordProducts(() => tf.dispose(tf.tidy(pass)));
    expect(products).toHaveLength(result.products);
    for (const p of products) expect(measuredChoices.has(p.key), p.key).toBe(true);
    const tileOf = (p: (typeof products)[number]) => {
      const choice = measuredChoices.get(p.key)!;
      return choice === 'backend' ? choice : parseChoice(choice).tile;
    };
    for (const [name, count] of Object.entries(result.tiles)) expect(products.filter((p) => tileOf(p) === name), name).toHaveLength(count);
    expect(products.filter((p) => measuredChoices.get(p.key)!.endsWith('/1'))).toHaveLength(result.unsplit);
    expect(products.filter((p) => measuredChoices.get(p.key) === 'backend')).toHaveLength(result.backend);
    expect(Object.values(result.tiles).reduce((a, b) => a + b, result.backend)).toBe(result.products);
    // The forward products and the stride-1 input gradient offer tfjs's kernel; the filter gradients and the strided input gradient (by phases) do not.
    const offering = (prefix: string) => products.filter((p) => p.source.key.startsWith(prefix)).map((p) => p.backendKernel !== undefined);
    expect(offering('conv2dForward')).toEqual([true, true, true]);
    expect(offering('conv2dInputGrad').sort()).toEqual([false, true]);
    expect(offering('conv2dFilterGrad')).not.toContain(true);
    for (const p of products) if (tileOf(p) !== 'backend') expect(tileName(tileFor(p.dims.m, p.dims.n, p.key))).toBe(tileOf(p));
    // K whole is offered beside each tile on which a product splits K, but not for filter gradients (the split's pass gives the bias gradient too).
    const device = webgpuBackendOf(tf.backend()).device;
    const splits = (p: (typeof products)[number], tile: keyof typeof TILES) => sliceCount(p.dims.m, p.dims.n, p.dims.k, TILES[tile], device.limits.maxStorageBufferBindingSize) > 1;
    let offered = 0;
    for (const m of result.measured) {
      const p = products.find((q) => q.source.key === m.source && q.dims.m === m.dims.m && q.dims.n === m.dims.n && q.dims.k === m.dims.k)!;
      expect(p.sumsOfB).toBe(p.source.key.startsWith('conv2dFilterGrad'));
      for (const tile of tilesFor(p.dims.m, p.dims.n, device.limits.maxComputeWorkgroupStorageSize)) {
        const whole = !p.sumsOfB && splits(p, tile);
        expect(Object.hasOwn(m.ms, `${tile}/1`), `${m.source} ${tile}`).toBe(whole);
        if (whole) offered++;
      }
    }
    expect(offered).toBeGreaterThan(0);
    expect((await tuneGemmTiles(pass)).products).toBe(0);
    const after = await gradients(model, x);
    after.forEach((g, i) => expect(relativeError(g, before[i]!)).toBeLessThan(1e-5));
    tf.dispose(x);
    model.dispose();
  }, 120_000);

  it('keeps its choices in a tile cache, which the next run takes instead of measuring', async () => {
    await tf.setBackend('webgpu');
    const dir = mkdtempSync(join(tmpdir(), 'tl-tune-'));
    const file = join(dir, 'tiles.json');
    const model = convnet();
    const pass = trainingPass(model, 4);
    try {
      measuredChoices.clear();
      const cache = openTileCache(file, 'test device');
      const first = await tuneGemmTiles(pass, cache);
      expect(cache.save()).toBeUndefined();
      expect([first.cached, first.measured.length]).toEqual([0, first.products]);
      const chosen = new Map(measuredChoices);
      measuredChoices.clear();
      const again = await tuneGemmTiles(pass, openTileCache(file, 'test device'));
      expect([again.products, again.cached, again.measured.length]).toEqual([first.products, first.products, 0]);
      expect(new Map(measuredChoices)).toEqual(chosen);
      // What the file says is what runs, where it is one of the product's options: tfjs's kernel
      // for the products that offer it; the others (filter gradients) are measured.
      const products = recordProducts(() => tf.dispose(tf.tidy(pass)));
      const offering = products.filter((p) => p.backendKernel !== undefined);
      expect(offering.length).toBeGreaterThan(0);
      expect(offering.length).toBeLessThan(products.length);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { devices: Record<string, Record<string, string>> };
      const keys = Object.keys(saved.devices['test device']!);
      expect(keys).toHaveLength(products.length);
      saved.devices['test device'] = Object.fromEntries(keys.map((key) => [key, 'backend']));
      writeFileSync(file, JSON.stringify(saved));
      measuredChoices.clear();
      const told = await tuneGemmTiles(pass, openTileCache(file, 'test device'));
      expect([told.cached, told.measured.length]).toEqual([offering.length, products.length - offering.length]);
      for (const p of products) expect(measuredChoices.get(p.key) === 'backend', p.key).toBe(p.backendKernel !== undefined);
      // Another device, or a product whose kernels' code changed (another fingerprint), is measured.
      measuredChoices.clear();
      expect((await tuneGemmTiles(pass, openTileCache(file, 'another device'))).cached).toBe(0);
      saved.devices['test device'] = Object.fromEntries(keys.map((key) => [`${key.slice(0, key.indexOf('#'))}#0000000000000000`, 'backend']));
      writeFileSync(file, JSON.stringify(saved));
      measuredChoices.clear();
      expect((await tuneGemmTiles(pass, openTileCache(file, 'test device'))).cached).toBe(0);
      // The fingerprint covers the options: one more option, another key.
      const product = products.find((p) => p.backendKernel !== undefined)!;
      expect(cacheKey(product, ['64x64'])).not.toBe(cacheKey(product, ['64x64', 'backend']));
      expect(cacheKey(product, ['64x64'])).toBe(cacheKey(product, ['64x64']));
    } finally {
      measuredChoices.clear();
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);

  it('costs a run nothing but speed when measuring fails', async () => {
    // Another backend in between, as another job in the same process may leave it.
    await tf.setBackend('cpu');
    process.env.TL_GEMM_TUNE = '1';
    const backend = await selectBackend('webgpu').finally(() => delete process.env.TL_GEMM_TUNE);
    expect(tf.getBackend()).toBe('webgpu');
    const model = convnet();
    const apply = model.apply.bind(model);
    model.apply = () => {
      throw new Error('no such layer');
    };
    expect((await prepareForTraining(backend, model, 4)).warning).toMatch(/measuring the GEMM tiles failed \(no such layer\); training with tiles chosen by shape/);
    model.apply = apply;
    measuredChoices.clear();
    const tuned = await prepareForTraining(backend, model, 4);
    expect(tuned.warning).toBeNull();
    expect(measuredChoices.size).toBeGreaterThan(0);
    expect(tuned.tiles).toMatchObject({ products: measuredChoices.size, measured: measuredChoices.size, cached: 0 });
    // A tile cache that is no such file: measured again, said so, and rewritten.
    const dir = mkdtempSync(join(tmpdir(), 'tl-tune-'));
    const file = join(dir, 'tiles.json');
    writeFileSync(file, 'not json');
    process.env.TL_TUNE_CACHE = file;
    measuredChoices.clear();
    try {
      expect((await prepareForTraining(backend, model, 4)).warning).toMatch(/^the tile cache .*tiles\.json is not JSON \(.*\); measuring again$/);
      expect(measuredChoices.size).toBeGreaterThan(0);
      expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).devices)).toHaveLength(1);
      measuredChoices.clear();
      const kept = await prepareForTraining(backend, model, 4);
      expect(kept.warning).toBeNull();
      expect(kept.tiles).toMatchObject({ products: measuredChoices.size, measured: 0, cached: measuredChoices.size });
    } finally {
      process.env.TL_TUNE_CACHE = 'off';
      rmSync(dir, { recursive: true, force: true });
    }
    model.dispose();
  }, 120_000);

  it.each([
    ['a forward product, its epilogue (bias, relu) applied by a second pass', 'conv2dForward', [3, 3, 300, 8], [2, 5, 5, 300]],
    ['an input gradient, its slices added up by a second pass', 'conv2dInputGrad', [3, 3, 8, 300], [2, 5, 5, 8]],
  ] as const)('runs %s in one pass where its choice keeps K whole, with the same result as split', async (_, prefix, filterShape, inputShape) => {
    await tf.setBackend('webgpu');
    measuredChoices.clear();
    // Few outputs, long K (2,700): split by the rule.
    const x = tf.randomUniform([...inputShape], -1, 1, 'float32', 1);
    const w = tf.randomUniform([...filterShape], -1, 1, 'float32', 2);
    const b = tf.randomUniform([filterShape[3]], -1, 1, 'float32', 3);
    const conv = (xx: tf.Tensor) => tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: w as tf.Tensor4D, bias: b, strides: 1, pad: 'valid', activation: 'relu' });
    const run = () => (prefix === 'conv2dForward' ? conv(x) : tf.grad((xx: tf.Tensor) => tf.sum(conv(xx)))(x));
    const product = recordProducts(() => tf.dispose(run())).find((p) => p.source.key.startsWith(prefix))!;
    const backend = webgpuBackendOf(tf.backend());
    const limits = backend.device.limits;
    expect(choicesFor(product, limits.maxComputeWorkgroupStorageSize, limits.maxStorageBufferBindingSize)).toContain('64x64/1');
    measuredChoices.set(product.key, '64x64');
    expect(runsOn(backend, product)).toMatch(/^64x64\/\d+$/);
    const split = await programsOf(run);
    measuredChoices.set(product.key, '64x64/1');
    expect(runsOn(backend, product)).toBe('64x64');
    const whole = await programsOf(run);
    expect(split.programs.length).toBe(whole.programs.length + 1);
    expect(relativeError(whole.values, split.values)).toBeLessThan(1e-5);
    measuredChoices.clear();
    tf.dispose([x, w, b]);
  });

  it.each([
    ['the forward convolution', 'conv2dForward'],
    ['the input gradient', 'conv2dInputGrad'],
    ['a convolution with a residual sum and a ReLU (then one pass of the sum)', 'conv2dForward4_relu_true_residual'],
  ])('runs tfjs\'s own kernel for %s where measurement chose it, with the same result', async (_, prefix) => {
    await tf.setBackend('webgpu');
    measuredChoices.clear();
    const x = tf.randomUniform([2, 9, 9, 8], -1, 1, 'float32', 1);
    const w = tf.randomUniform([3, 3, 8, 16], -1, 1, 'float32', 2);
    const conv = (xx: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
    const bias = tf.randomUniform([16], -1, 1, 'float32', 3);
    const residual = tf.randomUniform([2, 9, 9, 16], -1, 1, 'float32', 4);
    const withResidual = () => tf.engine().runKernel(CONV_ADD, { x, filter: w, bias, residual }, { strides: 1, pad: 'same', dilations: 1, dataFormat: 'NHWC', activation: 'relu' }) as tf.Tensor;
    // The forward value, the input gradient of the convolution's sum of squares, or the convolution with its residual.
    const run = () => (prefix === 'conv2dForward' ? conv(x) : prefix === 'conv2dInputGrad' ? tf.grad((xx: tf.Tensor) => tf.sum(tf.square(conv(xx))))(x) : withResidual());
    const product = recordProducts(() => tf.dispose(run())).find((p) => p.source.key.startsWith(prefix));
    expect(product?.backendKernel).toBeDefined();
    const gemms = (programs: string[]) => programs.filter((key) => key.startsWith('tlGemm')).length;
    // The input gradient also runs the forward product: one GEMM fewer once the gradient's is tfjs's.
    const ours = await programsOf(run);
    measuredChoices.set(product!.key, 'backend');
    const theirs = await programsOf(run);
    expect(gemms(theirs.programs)).toBe(gemms(ours.programs) - 1);
    expect(relativeError(theirs.values, ours.values)).toBeLessThan(1e-5);
    measuredChoices.clear();
    tf.dispose([x, w, bias, residual]);
  });
});

describe('the tiles a product is measured on', () => {
  it('are named as a tile cache keeps them: a tile, the same with K whole, or tfjs', () => {
    expect(['64x64', '256x16/1', 'backend'].map(isChoice)).toEqual([true, true, true]);
    expect(['64x64/2', '96x96/1', '/1', 'tfjs', 7, null].map(isChoice)).toEqual([false, false, false, false, false, false]);
    expect(parseChoice('128x32/1')).toEqual({ tile: '128x32', whole: true });
    expect(parseChoice('128x32')).toEqual({ tile: '128x32', whole: false });
  });

  it('are those whose wide sides the product fills and whose thin sides it needs, within the workgroup memory', () => {
    expect(tilesFor(4096, 4096, 32768)).toEqual(['64x64', '128x64', '64x128', '128x128']);
    expect(tilesFor(100352, 64, 32768)).toEqual(['64x64', '128x64']);
    expect(tilesFor(96, 1280, 32768)).toEqual(['64x64', '64x128']);
    expect(tilesFor(127, 127, 32768)).toEqual(['64x64']);
    // Fewer than 64 columns: the thin tiles, where M fills their rows.
    expect(tilesFor(401408, 16, 32768)).toEqual(['64x64', '128x64', '128x32', '256x16']);
    expect(tilesFor(200, 24, 32768)).toEqual(['64x64', '128x64', '128x32']);
    expect(tilesFor(100, 63, 32768)).toEqual(['64x64']);
    // 128 x 128 takes 16,896 bytes, WebGPU's default limit is 16,384; 256 x 16 loads 64 columns of B.
    expect(tileBytes(TILES['128x128'])).toBe(16896);
    expect(tileBytes(TILES['256x16'])).toBe(20992);
    expect(tilesFor(4096, 4096, 16384)).toEqual(['64x64', '128x64', '64x128']);
    expect(tilesFor(401408, 16, 16384)).toEqual(['64x64', '128x64', '128x32']);
  });
});

describe('the tile of a product nobody measured', () => {
  it('is the 128 x 128 tile by shape where M and N reach 128, or the 64 x 64 tile on the GPU rule; a measured tile stands either way', () => {
    const name = (m: number, n: number, key?: string) => tileName(tileFor(m, n, key));
    try {
      expect([name(256, 128), name(256, 64), name(64, 512)]).toEqual(['128x128', '64x64', '64x64']);
      setUnmeasuredTile('64x64');
      expect([name(256, 128), name(4096, 4096)]).toEqual(['64x64', '64x64']);
      measuredChoices.set('test|256|256|9', '128x64');
      expect(name(256, 256, 'test|256|256|9')).toBe('128x64');
    } finally {
      measuredChoices.delete('test|256|256|9');
      setUnmeasuredTile('by-shape');
    }
  });
});
