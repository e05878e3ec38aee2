/**
 * Conv2D and FusedConv2D (the convolution of every tf.layers conv2d, with its bias and activation)
 * as an implicit GEMM:
 *   Y[m = (b, oh, ow), n = co] = act(sum over k = (fh, fw, ci) of X(m, k) * W(k, n) + bias[n])
 * where X(m, k) = x[b, oh sh + fh dh - padT, ow sw + fw dw - padL, ci] (zero in the padding), the
 * im2col matrix read in place, and W is the filter as its own row-major [fh fw ci, co] matrix. The
 * bias and the activation are applied as each value is written. Same tiles as the gradients
 * (gemm.ts); tfjs 4.22 runs its own tiled kernel (32 x 32 tiles) or an im2col copy and a matmul,
 * and where measurement finds tfjs's faster for a shape (tune.ts), that shape runs on it.
 */
import * as tf from '@tensorflow/tfjs';
import { CONV_ADD } from '../fused-activation.ts';
import { ownKernel } from '../registry.ts';
import { i32, release, webgpuBackendOf } from './backend.ts';
import { eachSlot, gemmFits, kDigits, runGemm, SLOT, type BackendKernel, type GemmSource, type Slots } from './gemm.ts';
import { addRelu } from './residual.ts';

const UNIFORMS = 'inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, strideH : i32, strideW : i32, dilH : i32, dilW : i32, padT : i32, padL : i32, filterW : i32,';

/** The tap (fh, fw) and channel ci of the first of the four k this invocation reads a step, four at a time (`kDigits`). */
const TAP = kDigits('tap', 'kBegin + 4 * kq', 'uniforms.filterW', 'uniforms.inC');

// A is contiguous along k (ci innermost in x): this invocation owns one row of each slot of tileA
// (an output position m, decoded once here) and loads four neighbouring k of it a step, from
// k-column 4 (li % 4). B is contiguous along n (co innermost in w): loaders walk n, four channels
// (a vec4 column bq at k-row bkk) or one (column bnn) at a time. With many taps, four values a
// load, k's tap and channel are carried from step to step (`TAP`).
function setup(slots: Slots, carried: boolean): string {
  return `
    let kq = li % 4;
    let row = li / 4;
    let outHW = uniforms.outH * uniforms.outW;
    let kwc = uniforms.filterW * uniforms.inC;
    ${eachSlot(slots.a, (s) => `
    let m${s} = tileM + ${SLOT * s} + row;
    let bi${s} = m${s} / outHW;
    let p${s} = m${s} - bi${s} * outHW;
    let oh${s} = p${s} / uniforms.outW;
    let ih0${s} = oh${s} * uniforms.strideH - uniforms.padT;
    let iw0${s} = (p${s} - oh${s} * uniforms.outW) * uniforms.strideW - uniforms.padL;
    let aOk${s} = m${s} < uniforms.M;
    let aInside${s} = ih0${s} >= 0 && ih0${s} < uniforms.inH && iw0${s} >= 0 && iw0${s} < uniforms.inW;
    let aPos${s} = ((bi${s} * uniforms.inH + ih0${s}) * uniforms.inW + iw0${s}) * uniforms.inC;`)}
    let bq = li % 16;
    let bkk = li / 16;
    let bnn = li % ${SLOT};
    ${carried ? TAP.declare : ''}`;
}

/**
 * Reads X(m, k) of each slot's row into `av{s}`: one value, or four neighbouring ones. k (a tap and
 * an input channel) is decoded once for all slots, into its offset from the slot's position: with
 * four values a load, from the digits carried from the step before (`TAP`); with one, by two
 * integer divisions a load (a stem's three channels: one product a network). With one tap (a 1x1
 * filter, at any stride and padding) k is the input channel and the position is the slot's own:
 * nothing to decode.
 */
function readA(slots: number, values: 1 | 4, oneTap: boolean): string {
  const type = values === 4 ? 'vec4<f32>' : 'f32';
  const at = (index: string) => (values === 4 ? `(${index}) / 4` : index);
  if (oneTap) {
    return eachSlot(slots, (s) => `
      var av${s} = ${type}(0.0);
      if (k < kEnd && aOk${s} && aInside${s}) {
        av${s} = x[${at(`aPos${s} + k`)}];
      }`);
  }
  const tap = values === 4
    ? `
      let dh = tapHi * uniforms.dilH;
      let dw = tapMid * uniforms.dilW;
      let offset = (dh * uniforms.inW + dw) * uniforms.inC + tapLo;`
    : `
      let fh = k / kwc;
      let fr = k - fh * kwc;
      let fw = fr / uniforms.inC;
      let dh = fh * uniforms.dilH;
      let dw = fw * uniforms.dilW;
      let offset = (dh * uniforms.inW + dw) * uniforms.inC + fr - fw * uniforms.inC;`;
  return `${tap}
      ${eachSlot(slots, (s) => `
      var av${s} = ${type}(0.0);
      if (k < kEnd && aOk${s} && ih0${s} + dh >= 0 && ih0${s} + dh < uniforms.inH && iw0${s} + dw >= 0 && iw0${s} + dw < uniforms.inW) {
        av${s} = x[${at(`aPos${s} + offset`)}];
      }`)}`;
}

/** Reads the step at `k0`: A as above, B as one vec4 of four channels, or four scalars down its k-rows. */
function fetch(slots: Slots, values: 1 | 4, oneTap: boolean): string {
  if (values === 4) {
    return `
    {
      let k = k0 + 4 * kq;
      ${readA(slots.a, 4, oneTap)}
      ${eachSlot(slots.a, (s) => `ra${s} = av${s};`)}
      ${oneTap ? '' : TAP.advance}
    }
    {
      let k = k0 + bkk;
      ${eachSlot(slots.b, (s) => `
      let n${s} = tileN + ${SLOT * s} + 4 * bq;
      rb${s} = vec4<f32>(0.0);
      if (k < kEnd && n${s} < uniforms.N) {
        rb${s} = w[(k * uniforms.N + n${s}) / 4];
      }`)}
    }`;
  }
  return `
    for (var j = 0; j < 4; j++) {
      let k = k0 + 4 * kq + j;
      ${readA(slots.a, 1, oneTap)}
      ${eachSlot(slots.a, (s) => `ra${s}[j] = av${s};`)}
    }
    for (var r = 0; r < 4; r++) {
      let k = k0 + li / ${SLOT} + 4 * r;
      ${eachSlot(slots.b, (s) => `
      let n${s} = tileN + ${SLOT * s} + bnn;
      rb${s}[r] = 0.0;
      if (k < kEnd && n${s} < uniforms.N) {
        rb${s}[r] = w[k * uniforms.N + n${s}];
      }`)}
    }`;
}

/** Writes the registers: A's four k down this invocation's row of each slot, B's into a vec4 of tileB or its column. */
function store(slots: Slots, values: 1 | 4): string {
  const a = `
    for (var j = 0; j < 4; j++) {
      ${eachSlot(slots.a, (s) => `storeA(kw + 4 * kq + j, ${SLOT * s} + row, ra${s}[j]);`)}
    }`;
  if (values === 4) return `${a}
    ${eachSlot(slots.b, (s) => `tileB[kw + bkk][${SLOT / 4} * ${s} + bq] = rb${s};`)}`;
  return `${a}
    for (var r = 0; r < 4; r++) {
      ${eachSlot(slots.b, (s) => `storeB(kw + li / ${SLOT} + 4 * r, ${SLOT * s} + bnn, rb${s}[r]);`)}
    }`;
}

/** The activations applied in place; others go to tfjs's kernel. */
const ACTIVATIONS: Readonly<Record<string, (v: string) => string>> = {
  linear: (v) => v,
  relu: (v) => `max(${v}, 0.0)`,
  relu6: (v) => `clamp(${v}, 0.0, 6.0)`,
};

const sources = new Map<string, GemmSource>();

/**
 * The product's source: four or one values a load, one tap or many, and its write-out: a bias or
 * none, a residual added (an input of the output's shape, read at each value's own index), then
 * the activation.
 */
function sourceFor(values: 1 | 4, oneTap: boolean, activation: string, bias: boolean, residual: boolean): GemmSource {
  const key = `conv2dForward${values}${oneTap ? 'OneTap' : ''}_${activation}_${bias}${residual ? '_residual' : ''}`;
  let source = sources.get(key);
  if (source === undefined) {
    const inputs = ['x', 'w', ...(bias ? ['bias'] : []), ...(residual ? ['residual'] : [])];
    source = {
      key,
      inputs,
      uniforms: UNIFORMS,
      components: values === 4 ? inputs.map((_, i) => (i < 2 ? 4 : 1)) : undefined,
      setup: (slots) => setup(slots, values === 4 && !oneTap),
      fetch: (slots) => fetch(slots, values, oneTap),
      store: (slots) => store(slots, values),
      epilogue: ACTIVATIONS[activation]!(['v', ...(bias ? ['bias[n]'] : []), ...(residual ? ['residual[at]'] : [])].join(' + ')),
    };
    sources.set(key, source);
  }
  return source;
}

type Attrs = tf.Conv2DAttrs & { activation?: string };

/**
 * A float32 NHWC convolution with a linear, relu or relu6 activation, a per-channel bias or none,
 * and a residual or none, on TL's GEMM; undefined for anything else. `own` runs the same on the
 * backend's kernel, for measurement to prefer where it is the faster (tune.ts).
 */
function convolve(
  backend: unknown,
  inputs: { x?: tf.TensorInfo; filter?: tf.TensorInfo; bias?: tf.TensorInfo; residual?: tf.TensorInfo },
  attrs: Attrs,
  own?: BackendKernel,
): tf.TensorInfo | undefined {
  const { x, filter, bias, residual } = inputs;
  const activation = attrs.activation ?? 'linear';
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
  if (x === undefined || filter === undefined || format !== 'channelsLast' || x.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
  if (ACTIVATIONS[activation] === undefined) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number], attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, false, format,
  );
  if (bias !== undefined && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== info.outChannels)) return undefined;
  if (residual !== undefined && (residual.dtype !== 'float32' || residual.shape.join() !== info.outShape.join())) return undefined;
  const m = info.batchSize * info.outHeight * info.outWidth;
  const n = info.outChannels;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  if (!gemmFits(m, n) || m === 0 || k === 0) return undefined;
  const values = info.inChannels % 4 === 0 && n % 4 === 0 ? 4 : 1;
  const oneTap = info.filterHeight === 1 && info.filterWidth === 1;
  const source = sourceFor(values, oneTap, activation, bias !== undefined, residual !== undefined);
  return runGemm(webgpuBackendOf(backend), source, { m, n, k }, [x, filter, ...(bias ? [bias] : []), ...(residual ? [residual] : [])], [
    i32(info.inHeight), i32(info.inWidth), i32(info.inChannels), i32(info.outHeight), i32(info.outWidth),
    i32(info.strideHeight), i32(info.strideWidth), i32(info.dilationHeight), i32(info.dilationWidth),
    i32(info.padInfo.top), i32(info.padInfo.left), i32(info.filterWidth),
  ], info.outShape, own);
}

/**
 * The Conv2D or FusedConv2D kernel for float32 NHWC with a linear, relu or relu6 activation and a
 * per-channel bias or none; anything else goes to `fallback`.
 */
export function makeConv2D(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    if (preluActivationWeights !== undefined) return fallback(args);
    const own = (ins: readonly tf.TensorInfo[]) => fallback({ ...args, inputs: { ...args.inputs, x: ins[0]!, filter: ins[1]!, ...(ins[2] && { bias: ins[2] }) } }) as tf.TensorInfo;
    return convolve(args.backend, { x, filter, bias }, (args.attrs ?? {}) as unknown as Attrs, own) ?? fallback(args);
  };
}

/**
 * CONV_ADD: act(conv(x, filter) + bias + residual) in one GEMM, the residual added and the
 * activation (linear or relu) applied as each value is written (inference of a residual block
 * whose last convolution's BatchNorm is folded: the sum is never written and read again). Offered
 * to measurement beside tfjs's convolution followed by one pass of the sum (tune.ts); that is
 * also what runs where TL's GEMM does not take the case.
 */
export const conv2dAdd: tf.KernelFunc = (args) => {
  const { x, filter, bias, residual } = args.inputs;
  if (x === undefined || filter === undefined || residual === undefined) throw new Error(`${CONV_ADD} needs x, filter and residual`);
  const attrs = (args.attrs ?? {}) as unknown as Attrs;
  const activation = attrs.activation ?? 'linear';
  if (activation !== 'linear' && activation !== 'relu') throw new Error(`${CONV_ADD} applies 'linear' or 'relu', not '${activation}'`);
  const backend = webgpuBackendOf(args.backend);
  const own = (ins: readonly tf.TensorInfo[]): tf.TensorInfo => {
    const conv = ownKernel('FusedConv2D', 'webgpu')!.kernelFunc;
    const sum = conv({ backend, inputs: { x: ins[0]!, filter: ins[1]!, ...(ins.length > 3 && { bias: ins[2]! }) }, attrs: { ...args.attrs, activation: 'linear' } }) as tf.TensorInfo;
    const b = ins[ins.length - 1]!;
    const out = (activation === 'relu' ? addRelu({ inputs: { a: sum, b }, backend, attrs: {} }) : tf.getKernel('Add', 'webgpu')!.kernelFunc({ inputs: { a: sum, b }, backend, attrs: {} })) as tf.TensorInfo;
    release(backend, sum);
    return out;
  };
  return convolve(backend, { x, filter, bias, residual }, attrs, own) ?? own([x, filter, ...(bias ? [bias] : []), residual]);
};
