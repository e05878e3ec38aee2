/**
 * DepthwiseConv2dNativeBackpropFilter on wasm as a loop over the heap: for each output position
 * and filter tap inside the input, one pass along the channels, dW[tap, c, m] += x[c] dy[c M + m],
 * summed in float64. Each product is made once, where building the patches (im2col) and reducing
 * them (the composition this replaced) wrote and read every product's operand again.
 */
import * as tf from '@tensorflow/tfjs';
import { heapOf, views } from './heap.ts';
import { geometryOf, type WindowGeometry } from './windows.ts';

/** The shapes of one depthwise filter gradient: x `[n, inHeight, inWidth, c]`, dy `[n, outHeight, outWidth, c m]`. */
interface Depthwise extends WindowGeometry {
  readonly n: number;
  readonly c: number;
  readonly m: number;
}

/** Adds each tap's products over the batch into `acc` (`[filterHeight, filterWidth, c, m]`). */
function accumulate(x: Float32Array, dy: Float32Array, g: Depthwise, acc: Float64Array): void {
  const { n, c, m, inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = g;
  const cm = c * m;
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let fh = 0; fh < filterHeight; fh++) {
        const ih = oh * g.strideHeight + fh * g.dilationHeight - g.padTop;
        if (ih < 0 || ih >= inHeight) continue;
        for (let ow = 0; ow < outWidth; ow++) {
          const dyAt = ((b * outHeight + oh) * outWidth + ow) * cm;
          for (let fw = 0; fw < filterWidth; fw++) {
            const iw = ow * g.strideWidth + fw * g.dilationWidth - g.padLeft;
            if (iw < 0 || iw >= inWidth) continue;
            const xAt = ((b * inHeight + ih) * inWidth + iw) * c;
            const at = (fh * filterWidth + fw) * cm;
            if (m === 1) {
              for (let k = 0; k < c; k++) acc[at + k] = acc[at + k]! + x[xAt + k]! * dy[dyAt + k]!;
            } else {
              for (let k = 0; k < c; k++) {
                const v = x[xAt + k]!;
                for (let j = 0; j < m; j++) acc[at + k * m + j] = acc[at + k * m + j]! + v * dy[dyAt + k * m + j]!;
              }
            }
          }
        }
      }
    }
  }
}

/** dW[kh, kw, c, m] = sum over (n, oh, ow) of x(n, ih, iw, c) dy(n, oh, ow, c m + m'). */
export const depthwiseConv2dNativeBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const heap = heapOf(backend);
  const { x, dy } = inputs;
  if (x === undefined || dy === undefined) throw new Error('DepthwiseConv2dNativeBackpropFilter needs x and dy');
  const { filterShape, strides, dilations, pad, dimRoundingMode } = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true);
  const [, , c, m] = filterShape;
  const g: Depthwise = { ...geometryOf(info, dy.shape), n: x.shape[0]!, c, m };
  const out = heap.makeOutput([...filterShape], 'float32');
  const [xs, dys] = views(heap, inputs, ['x', 'dy'], 'DepthwiseConv2dNativeBackpropFilter');
  const acc = new Float64Array(tf.util.sizeFromShape(filterShape));
  accumulate(xs!, dys!, g, acc);
  heap.typedArrayFromHeap(out).set(acc);
  return out;
};
