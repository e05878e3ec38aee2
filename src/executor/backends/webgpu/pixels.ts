/**
 * A batch of packed RGB bytes to a network's float input in one program (batches.ts imageBatch).
 *
 * The portable path widens the bytes to int32 in JavaScript, uploads four bytes for each one, and
 * casts, reverses (for BGR), scales and offsets in four or five dispatches: at batch 32 and 224 px,
 * a 19 MB upload and 5.6-6.9 ms of host time a batch on the development VM, for every training
 * step and every evaluation batch. Here the bytes travel as they are, four to an int32, and one
 * program unpacks each value, picks its channel and applies the scale and offset.
 */
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, runProgram, webgpuBackendOf } from './backend.ts';

/** {pixels: int32 words, four bytes each, little-endian}, attrs {shape [n, h, w, 3], scale, offset, bgr} to float32 of `shape`. */
export const PIXELS_TO_INPUT = 'TLPixelsToInput';

class PixelsToInputProgram extends FlatProgram {
  readonly variableNames = ['pixels'];
  readonly uniforms = 'bgr : i32, s0 : f32, s1 : f32, s2 : f32, o0 : f32, o1 : f32, o2 : f32,';
  readonly shaderKey = 'tlPixelsToInput';

  protected body(): string {
    return `
        let c = index % 3;
        let source = index - c + select(c, 2 - c, uniforms.bgr == 1);
        let word = bitcast<u32>(pixels[source / 4]);
        let byte = f32((word >> (8u * u32(source % 4))) & 255u);
        let scale = select(select(uniforms.s2, uniforms.s1, c == 1), uniforms.s0, c == 0);
        let offset = select(select(uniforms.o2, uniforms.o1, c == 1), uniforms.o0, c == 0);
        result[index] = byte * scale + offset;`;
  }
}

/** Kernel function of PIXELS_TO_INPUT. */
export const pixelsToInput: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { pixels } = inputs;
  const { shape, scale, offset, bgr } = attrs as unknown as { shape: number[]; scale: number[]; offset: number[]; bgr: boolean };
  if (pixels === undefined || pixels.dtype !== 'int32' || shape.length !== 4 || shape[3] !== 3) throw new Error(`${PIXELS_TO_INPUT} needs int32 pixels and an [n, h, w, 3] shape`);
  const f = (v: number) => ({ type: 'float32' as const, data: [v] });
  return runProgram(webgpuBackendOf(backend), new PixelsToInputProgram(shape), [pixels], [{ type: 'int32', data: [bgr ? 1 : 0] }, ...scale.map(f), ...offset.map(f)]);
};
