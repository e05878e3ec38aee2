/**
 * The GEMM tile of each convolution product chosen by measurement on the device, as cuDNN's
 * benchmark mode chooses its algorithms: the products one forward and backward pass of a model
 * runs are recorded, each is run again with the 64 and the 128 tile on inputs of its shapes (and
 * with tfjs's own kernel, where it has one for the whole product: the forward convolution and the
 * stride-1 input gradient), and the fastest is kept for the rest of the process (gemm.ts
 * `measuredChoices`). Unless another is more than 3% faster, the tile by shape stands. About 60 distinct products for a ResNet50 training step,
 * milliseconds each on a GPU; the software adapter takes seconds to minutes, so the executor tunes
 * on a GPU only (select.ts `prepareForTraining`).
 */
import * as tf from '@tensorflow/tfjs';
import { webgpuBackendOf } from './backend.ts';
import { measuredChoices, recordProducts, runGemm, setGemmTile, tileFor, type Choice, type RecordedProduct } from './gemm.ts';

/** One product as measured: what it is, milliseconds per run on each option, and what it runs on now. */
export interface TunedProduct {
  readonly source: string;
  readonly dims: { readonly m: number; readonly n: number; readonly k: number };
  readonly ms: Readonly<Partial<Record<Choice, number>>>;
  readonly choice: Choice;
}

export interface TuneResult {
  /** Distinct products measured (those measured before are not measured again). */
  readonly products: number;
  /** Of those, how many take the 128 tile now, how many tfjs's kernel, and how many differ from the rule by shape. */
  readonly tile128: number;
  readonly backend: number;
  readonly changed: number;
  readonly ms: number;
  /** Every product measured, for benchmarks to report. */
  readonly measured: readonly TunedProduct[];
}

/**
 * Waits for the GPU to finish everything queued before `t` by reading one value of it (a full read
 * of a large output would cost more than the kernels being timed).
 */
export async function waitFor(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), 0, 1));
  await one.data();
  one.dispose();
}

/** Milliseconds per run of `product` on `choice`, runs chained and synchronised once on one value. */
async function timeProduct(product: RecordedProduct, inputs: readonly tf.Tensor[], choice: Choice): Promise<number> {
  const backend = webgpuBackendOf(tf.backend());
  const once = () => (choice === 'backend' ? product.backendKernel!(inputs) : runGemm(backend, product.source, product.dims, inputs, product.uniforms, product.outShape));
  const run = (n: number) => {
    let last: tf.Tensor | undefined;
    for (let i = 0; i < n; i++) {
      last?.dispose();
      last = tf.engine().makeTensorFromTensorInfo(once());
    }
    return last!;
  };
  const settle = async (t: tf.Tensor) => {
    await waitFor(t);
    t.dispose();
  };
  if (choice !== 'backend') setGemmTile(choice);
  try {
    await settle(run(1)); // compiles the pipeline
    let t0 = performance.now();
    await settle(run(1));
    const single = performance.now() - t0;
    const reps = Math.max(2, Math.min(20, Math.ceil(5 / Math.max(single, 0.01))));
    t0 = performance.now();
    await settle(run(reps));
    return (performance.now() - t0) / reps;
  } finally {
    setGemmTile('auto');
  }
}

/**
 * Measures the tiles of every product `pass` runs (it is run once, on webgpu, with TL's kernels
 * registered, and its results disposed) and keeps the faster of each.
 */
export async function tuneGemmTiles(pass: () => tf.Tensor | tf.Tensor[]): Promise<TuneResult> {
  const started = performance.now();
  const products = recordProducts(() => {
    tf.dispose(tf.tidy(pass));
  }).filter((p) => !measuredChoices.has(p.key));
  let tile128 = 0;
  let backend = 0;
  let changed = 0;
  const measured: TunedProduct[] = [];
  for (const product of products) {
    const inputs = product.inputShapes.map((shape) => tf.randomUniform([...shape], -1, 1));
    try {
      const rule = tileFor(product.dims.m, product.dims.n).size;
      const options: Choice[] = [rule, rule === 128 ? 64 : 128, ...(product.backendKernel ? ['backend' as const] : [])];
      const ms = new Map<Choice, number>();
      for (const option of options) ms.set(option, await timeProduct(product, inputs, option));
      let choice: Choice = rule;
      for (const option of options) if (ms.get(option)! < 0.97 * ms.get(choice)!) choice = option;
      measuredChoices.set(product.key, choice);
      measured.push({ source: product.source.key, dims: product.dims, ms: Object.fromEntries(ms), choice });
      if (choice === 128) tile128++;
      if (choice === 'backend') backend++;
      if (choice !== rule) changed++;
    } finally {
      tf.dispose(inputs);
    }
  }
  return { products: products.length, tile128, backend, changed, ms: performance.now() - started, measured };
}

/**
 * The pass a training step of `model` runs at `batch`, for tuneGemmTiles: the forward pass and the
 * gradients of its trainable weights (so every product the step runs), in inference mode so that
 * nothing (BatchNorm's moving statistics) changes.
 */
export function trainingPass(model: tf.LayersModel, batch: number): () => tf.Tensor[] {
  return () => {
    const x = tf.zeros(model.inputs[0]!.shape.map((d, i) => (i === 0 ? batch : (d ?? 1))));
    const loss = () => {
      const y = model.apply(x, { training: false }) as tf.Tensor | tf.Tensor[];
      return tf.addN((Array.isArray(y) ? y : [y]).map((t) => tf.sum(t))) as tf.Scalar;
    };
    const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
    if (weights.length === 0) return [loss()];
    const { value, grads } = tf.variableGrads(loss, weights);
    return [value, ...Object.values(grads)];
  };
}
