/**
 * The `noise` augmentation drawn on the GPU. The portable version draws one normal number per value
 * in JavaScript and uploads them: at batch 32 and 224 px, 4.8M draws and a 19 MB upload a step.
 * Here each value hashes (seed, its index) twice with PCG's output permutation and turns the two
 * uniforms into a normal one by Box-Muller: one dispatch, no upload; the seed comes from the
 * plan's random stream, so a run stays reproducible on webgpu (with other numbers than cpu's).
 */
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, runProgram, webgpuBackendOf } from './backend.ts';

/** WGSL: PCG's output permutation of one 32-bit word, the hash TL's GPU random numbers come from. */
const PCG_HASH = `
      fn pcgHash(v : u32) -> u32 {
        let state = v * 747796405u + 2891336453u;
        let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
        return (word >> 22u) ^ word;
      }`;

/** {x}, attrs {seed (uint32), sigma, lo, hi}: clip(x + sigma z, lo, hi), z standard normal per value. */
export const GAUSSIAN_NOISE = 'TLGaussianNoise';

/** A flat program whose WGSL may call `pcgHash`. */
export abstract class HashingProgram extends FlatProgram {
  override getUserCode(): string {
    return `${PCG_HASH}
      ${super.getUserCode()}`;
  }
}

class GaussianNoiseProgram extends HashingProgram {
  readonly variableNames = ['x'];
  readonly uniforms = 'seed : u32, sigma : f32, lo : f32, hi : f32,';
  readonly shaderKey = 'tlGaussianNoise';

  protected body(): string {
    // 24-bit uniforms: u1 in (0, 1) for the logarithm, u2 in [0, 1).
    return `
        let i = u32(index);
        let a = pcgHash(uniforms.seed ^ pcgHash(2u * i));
        let b = pcgHash(uniforms.seed ^ pcgHash(2u * i + 1u));
        let u1 = (f32(a >> 8u) + 0.5) / 16777216.0;
        let u2 = f32(b >> 8u) / 16777216.0;
        let z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        result[index] = clamp(x[index] + uniforms.sigma * z, uniforms.lo, uniforms.hi);`;
  }
}

/** Kernel function of GAUSSIAN_NOISE. */
export const gaussianNoise: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  if (x === undefined) throw new Error(`${GAUSSIAN_NOISE} needs x`);
  const { seed, sigma, lo, hi } = attrs as unknown as { seed: number; sigma: number; lo: number; hi: number };
  return runProgram(webgpuBackendOf(backend), new GaussianNoiseProgram(x.shape), [x], [
    { type: 'uint32', data: [seed >>> 0] },
    { type: 'float32', data: [sigma] },
    { type: 'float32', data: [lo] },
    { type: 'float32', data: [hi] },
  ]);
};
