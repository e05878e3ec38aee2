/**
 * DepthwiseConv2dNativeBackpropFilter on wasm as a loop over the heap: for each output position
 * and filter tap inside the input, one pass along the channels, dW[tap, c, m] += x[c] dy[c M + m],
 * products and sums in float64. Each product is made once, where building the patches (im2col)
 * and reducing them (the composition this replaced) wrote and read every product's operand again.
 * The loop over a row of outputs and the filter's columns is WebAssembly (SIMD along the channels
 * where the multiplier is 1); the rows, batch and filter rows are walked here.
 */
import * as tf from '@tensorflow/tfjs';
import { alongChannels, channelBytes, HIGH, onMemory } from './assemble.ts';
import { heapOf, memoryOf, views, withScratch } from './heap.ts';
import { geometryOf, type WindowGeometry } from './windows.ts';

/** The shapes of one depthwise filter gradient: x `[n, inHeight, inWidth, c]`, dy `[n, outHeight, outWidth, c m]`. */
interface Depthwise extends WindowGeometry {
  readonly n: number;
  readonly c: number;
  readonly m: number;
}

/** acc[c m'] += x[c] dy[c m'] along $bytes of x (multiplier 1): four channels at a time, then one. */
const CHANNELS = alongChannels(`
  local.get $xp local.get $o i32.add v128.load local.set $xv
  local.get $dp local.get $o i32.add v128.load local.set $dv
  local.get $ap local.get $o i32.const 1 i32.shl i32.add local.tee $p
  local.get $p v128.load
  local.get $xv f64x2.promote_low_f32x4 local.get $dv f64x2.promote_low_f32x4 f64x2.mul f64x2.add v128.store
  local.get $p
  local.get $p v128.load offset=16
  local.get $xv local.get $xv ${HIGH} f64x2.promote_low_f32x4
  local.get $dv local.get $dv ${HIGH} f64x2.promote_low_f32x4
  f64x2.mul f64x2.add v128.store offset=16`, `
  local.get $ap local.get $o i32.const 1 i32.shl i32.add local.tee $p
  local.get $p f64.load
  local.get $xp local.get $o i32.add f32.load f64.promote_f32
  local.get $dp local.get $o i32.add f32.load f64.promote_f32
  f64.mul f64.add f64.store`);

/** acc[c m + j] += x[c] dy[c m + j] for a multiplier m > 1, one value at a time. */
const MULTIPLIED = `
  i32.const 0 local.set $o
  local.get $dp local.set $q
  local.get $ap local.set $p
  loop $channel
    local.get $xp local.get $o i32.add f32.load f64.promote_f32 local.set $v
    i32.const 0 local.set $j
    loop $multiple
      local.get $p local.get $p f64.load local.get $q f32.load f64.promote_f32 local.get $v f64.mul f64.add f64.store
      local.get $p i32.const 8 i32.add local.set $p
      local.get $q i32.const 4 i32.add local.set $q
      local.get $j i32.const 1 i32.add local.tee $j local.get $m i32.lt_u br_if $multiple
    end
    local.get $o i32.const 4 i32.add local.tee $o local.get $bytes i32.lt_u br_if $channel
  end`;

/**
 * One row of outputs against one row of the input and one row of the filter: for each output
 * column and each filter column whose input column lies inside the input, the channels' products
 * added into that tap's float64 sums. Addresses are bytes: x's row, dy's row, the filter row's sums.
 */
const depthwiseRow = onMemory<{
  row(x: number, dy: number, acc: number, inWidth: number, outWidth: number, filterWidth: number, stride: number, dilation: number, padLeft: number, c: number, m: number): void;
}>([{
  name: 'row',
  params: { x: 'i32', dy: 'i32', acc: 'i32', inWidth: 'i32', outWidth: 'i32', filterWidth: 'i32', stride: 'i32', dilation: 'i32', padLeft: 'i32', c: 'i32', m: 'i32' },
  locals: { ow: 'i32', fw: 'i32', iw: 'i32', o: 'i32', p: 'i32', q: 'i32', j: 'i32', xp: 'i32', dp: 'i32', ap: 'i32', bytes: 'i32', vbytes: 'i32', xv: 'v128', dv: 'v128', v: 'f64' },
  body: `
    ${channelBytes('c')}
    local.get $dy local.set $dp
    loop $column
      i32.const 0 local.set $fw
      loop $tap
        block $outside
          ;; iw = ow stride + fw dilation - padLeft; negative ones compare as large.
          local.get $ow local.get $stride i32.mul local.get $fw local.get $dilation i32.mul i32.add local.get $padLeft i32.sub local.tee $iw
          local.get $inWidth i32.ge_u br_if $outside
          local.get $x local.get $iw local.get $bytes i32.mul i32.add local.set $xp
          local.get $acc local.get $fw local.get $bytes i32.mul local.get $m i32.mul i32.const 1 i32.shl i32.add local.set $ap
          block $done
            local.get $m i32.const 1 i32.ne br_if $done
            ${CHANNELS}
          end
          block $done
            local.get $m i32.const 1 i32.eq br_if $done
            ${MULTIPLIED}
          end
        end
        local.get $fw i32.const 1 i32.add local.tee $fw local.get $filterWidth i32.lt_u br_if $tap
      end
      local.get $dp local.get $bytes local.get $m i32.mul i32.add local.set $dp
      local.get $ow i32.const 1 i32.add local.tee $ow local.get $outWidth i32.lt_u br_if $column
    end`,
}]);

/** Adds each tap's products over the batch into the float64 sums at `acc` (`[filterHeight, filterWidth, c, m]`). */
function accumulate(memory: WebAssembly.Memory, x: Float32Array, dy: Float32Array, g: Depthwise, acc: number): void {
  const { n, c, m, inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = g;
  const { row } = depthwiseRow(memory);
  if (outWidth === 0) return;
  for (let b = 0; b < n; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const dyRow = dy.byteOffset + (b * outHeight + oh) * outWidth * c * m * 4;
      for (let fh = 0; fh < filterHeight; fh++) {
        const ih = oh * g.strideHeight + fh * g.dilationHeight - g.padTop;
        if (ih < 0 || ih >= inHeight) continue;
        const xRow = x.byteOffset + (b * inHeight + ih) * inWidth * c * 4;
        row(xRow, dyRow, acc + fh * filterWidth * c * m * 8, inWidth, outWidth, filterWidth, g.strideWidth, g.dilationWidth, g.padLeft, c, m);
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
  const size = tf.util.sizeFromShape(filterShape);
  const wasm = memoryOf(backend);
  withScratch(wasm, 8 * size, (acc) => {
    const [xs, dys] = views(heap, inputs, ['x', 'dy'], 'DepthwiseConv2dNativeBackpropFilter');
    accumulate(wasm.memory, xs!, dys!, g, acc);
    heap.typedArrayFromHeap(out).set(new Float64Array(wasm.memory.buffer, acc, size));
  });
  return out;
};
