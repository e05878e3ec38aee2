/**
 * Full-size training steps (batch 32, 224 px: the GPU benchmark's, and what `tl run` trains on a
 * GPU) of both zoo networks, on each GEMM tile, then their folded inference at batch 64 (what `tl
 * run` evaluates with): everything they dispatch must be valid on the device. The parity cases are small, and cannot reach the limits
 * that these shapes do: an input gradient of 6.4M outputs on the 128 tile once split K into more
 * column-sum workgroups than one dispatch row holds, and `tl run` failed there.
 *
 * The device's queue runs nothing here (submit is dropped while the test runs): this checks what is
 * encoded and dispatched, not values, which the parity cases check. So a step costs the host's time
 * and the shaders' compilation (about a minute), not hours of llvmpipe.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifier } from '../../bench/gpu/models.ts';
import { setGemmTile, TILES, type TileName } from '../../src/executor/backends/webgpu/gemm.ts';
import { foldBatchNorms } from '../../src/executor/fold-batchnorm.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

interface Device {
  readonly limits: { readonly maxStorageBufferBindingSize: number };
  readonly queue: { submit: (buffers: unknown) => void };
  onuncapturederror: ((event: { error?: { message?: string } }) => void) | null;
}

describe.skipIf(!env.ok)(`full-size steps dispatch within the device's limits (${env.ok ? env.adapter : 'no adapter'})`, () => {
  const device = env.ok ? ((tf.backend() as unknown as { device: Device }).device) : undefined;
  let errors: string[] = [];
  let submit: Device['queue']['submit'] | undefined;
  beforeAll(() => {
    if (device === undefined) return;
    submit = device.queue.submit;
    device.queue.submit = () => {};
    device.onuncapturederror = (event) => void errors.push(event.error?.message ?? String(event));
  });
  afterAll(() => {
    if (device === undefined || submit === undefined) return;
    device.queue.submit = submit;
    device.onuncapturederror = null;
    setGemmTile('auto');
  });

  /**
   * The errors of `run`, less the ones that only say a tensor is larger than this device can bind
   * (llvmpipe binds 128 MiB; MobileNetV2's widest activations at batch 32 are 154 MB, which a GPU
   * takes), and the invalid bind groups those leave.
   */
  async function errorsOf(run: () => Promise<void>): Promise<string[]> {
    errors = [];
    await run();
    const limit = device!.limits.maxStorageBufferBindingSize;
    const over = /Binding size \((\d+)\) .* is larger than the maximum storage buffer binding size/;
    const beyond = errors.filter((e) => Number(over.exec(e)?.[1] ?? 0) > limit);
    if (beyond.length > 0) console.warn(`  ${beyond.length} bindings past this device's ${limit / 2 ** 20} MiB, not counted`);
    return errors.filter((e) => !over.test(e) && !(beyond.length > 0 && e.startsWith('[Invalid BindGroup')));
  }

  it.each(['resnet50', 'mobilenetv2'] as const)('%s: a training step on each tile, and folded inference', async (name) => {
    const model = await classifier(name, 224, 10);
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    const xs = tf.zeros([32, 224, 224, 3]);
    const ys = tf.oneHot(tf.zeros([32], 'int32') as tf.Tensor1D, 10);
    const evaluated = tf.zeros([64, 224, 224, 3]);
    try {
      for (const tile of Object.keys(TILES) as TileName[]) {
        setGemmTile(tile);
        expect(await errorsOf(async () => void (await model.trainOnBatch(xs, ys))), `training on the ${tile} tile`).toEqual([]);
        const folded = foldBatchNorms(model);
        expect(folded.chains.length).toBeGreaterThan(30);
        expect(await errorsOf(async () => void (await (model.predict(evaluated) as tf.Tensor).data())), `inference on the ${tile} tile`).toEqual([]);
        folded.restore();
      }
    } finally {
      setGemmTile('auto');
      tf.dispose([xs, ys, evaluated]);
      model.dispose();
    }
  });
});
