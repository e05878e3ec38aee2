/**
 * The augmentation resampler (src/executor/augment/sampler.ts) as one WebGPU program. The portable
 * sampler computes every pixel's source position and bilinear weights in JavaScript and uploads
 * them: at batch 32 and 224 px that is about 100 MB of indices and weights and 220-300 ms of
 * JavaScript a step for a rotation (this machine), more than the whole step the GPU goal allows.
 * Here each output value finds its own position from its image's 6-number transform, reflects it
 * into the image as the portable sampler does, and blends its four neighbours: one dispatch and a
 * [n, 6] upload. Positions are computed in float32 rather than float64, so batches agree with the
 * cpu and wasm backends to float rounding, not bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { DECODE_NHWC, FlatProgram, runProgram, webgpuBackendOf } from './backend.ts';

/** {x: NHWC float32, transforms: [n, 6] float32} to x resampled through each image's transform. */
export const AFFINE_SAMPLE = 'TLAffineSample';

class AffineSampleProgram extends FlatProgram {
  readonly variableNames = ['x', 'transforms'];
  readonly uniforms = 'inH : i32, inW : i32, inC : i32, cx : f32, cy : f32,';
  readonly shaderKey = 'tlAffineSample';

  protected body(): string {
    // reflectInto: as sampler.ts's reflect, about the edges at -0.5 and size - 0.5, then clamped.
    return `${DECODE_NHWC}
        let tb = bi * 6;
        let qx = f32(iw) - uniforms.cx;
        let qy = f32(ih) - uniforms.cy;
        let w = f32(uniforms.inW);
        let h = f32(uniforms.inH);
        let sx = reflectInto(transforms[tb] * qx + transforms[tb + 1] * qy + transforms[tb + 2] + uniforms.cx, w);
        let sy = reflectInto(transforms[tb + 3] * qx + transforms[tb + 4] * qy + transforms[tb + 5] + uniforms.cy, h);
        let x0 = i32(floor(sx));
        let y0 = i32(floor(sy));
        let x1 = select(x0, x0 + 1, x0 + 1 < uniforms.inW);
        let y1 = select(y0, y0 + 1, y0 + 1 < uniforms.inH);
        let fx = sx - f32(x0);
        let fy = sy - f32(y0);
        let row0 = (bi * uniforms.inH + y0) * uniforms.inW;
        let row1 = (bi * uniforms.inH + y1) * uniforms.inW;
        let v00 = x[(row0 + x0) * uniforms.inC + c];
        let v01 = x[(row0 + x1) * uniforms.inC + c];
        let v10 = x[(row1 + x0) * uniforms.inC + c];
        let v11 = x[(row1 + x1) * uniforms.inC + c];
        result[index] = v00 * ((1.0 - fy) * (1.0 - fx)) + v01 * ((1.0 - fy) * fx) + v10 * (fy * (1.0 - fx)) + v11 * (fy * fx);`;
  }

  override getUserCode(): string {
    return `
      fn reflectInto(v : f32, size : f32) -> f32 {
        let period = 2.0 * size;
        var r = (v + 0.5) % period;
        if (r < 0.0) {
          r += period;
        }
        if (r >= size) {
          r = period - r;
        }
        return clamp(r - 0.5, 0.0, size - 1.0);
      }
      ${super.getUserCode()}`;
  }
}

/** Kernel function of AFFINE_SAMPLE. */
export const affineSample: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, transforms } = inputs;
  if (x === undefined || transforms === undefined || x.shape.length !== 4) throw new Error(`${AFFINE_SAMPLE} needs an NHWC x and [n, 6] transforms`);
  const [, h = 1, w = 1, c = 1] = x.shape;
  return runProgram(webgpuBackendOf(backend), new AffineSampleProgram(x.shape), [x, transforms], [
    { type: 'int32', data: [h] },
    { type: 'int32', data: [w] },
    { type: 'int32', data: [c] },
    { type: 'float32', data: [(w - 1) / 2] },
    { type: 'float32', data: [(h - 1) / 2] },
  ]);
};
