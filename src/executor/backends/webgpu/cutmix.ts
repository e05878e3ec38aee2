/**
 * The cutmix augmentation's paste on the GPU. The portable version fills a batch-sized mask in
 * JavaScript, uploads it and blends with five ops (mask arithmetic, a gather, products, a sum); here
 * one program copies each value from the image itself or, inside its box, from its partner: a copy
 * either way, so the batch is bit-identical to the portable one.
 */
import * as tf from '@tensorflow/tfjs';
import { DECODE_NHWC, FlatProgram, i32, runProgram, webgpuBackendOf } from './backend.ts';

/** {x: NHWC, partner: [n] int32, boxes: [n, 4] int32 (x0, y0, x1, y1, end exclusive)}: x with each box pasted from its partner. */
export const CUTMIX_PASTE = 'TLCutmixPaste';

class CutmixPasteProgram extends FlatProgram {
  readonly variableNames = ['x', 'partner', 'boxes'];
  readonly uniforms = 'inH : i32, inW : i32, inC : i32,';
  readonly shaderKey = 'tlCutmixPaste';

  protected body(): string {
    return `${DECODE_NHWC}
        let box = bi * 4;
        let inside = iw >= boxes[box] && ih >= boxes[box + 1] && iw < boxes[box + 2] && ih < boxes[box + 3];
        let image = select(bi, partner[bi], inside);
        result[index] = x[((image * uniforms.inH + ih) * uniforms.inW + iw) * uniforms.inC + c];`;
  }
}

/** Kernel function of CUTMIX_PASTE. */
export const cutmixPaste: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, partner, boxes } = inputs;
  if (x === undefined || partner === undefined || boxes === undefined || x.shape.length !== 4) throw new Error(`${CUTMIX_PASTE} needs an NHWC x, partner and boxes`);
  const [, h = 1, w = 1, c = 1] = x.shape;
  return runProgram(webgpuBackendOf(backend), new CutmixPasteProgram(x.shape), [x, partner, boxes], [i32(h), i32(w), i32(c)]);
};
