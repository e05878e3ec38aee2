/**
 * Conv2DBackpropFilter as an implicit GEMM. With the filter gradient seen as a matrix
 * dW[m = (fh, fw, ci), n = co] (its own row-major layout), it is
 *   dW = sum over k = (b, oh, ow) of X(m, k) * dY(k, n)
 * where dY is dy as a [B*OH*OW, Co] matrix and X(m, k) = x[b, oh*sh + fh*dh - padT, ow*sw + fw*dw - padL, ci]
 * (zero in the padding): the transposed im2col matrix, read in place. For a 1x1 stride-1 convolution
 * this is exactly x^T dy. K is every output position of the batch, so gemm.ts splits it into slices.
 * tfjs 4.22 ran this as one thread per filter value looping over the whole batch (0.02 TFLOP/s on an
 * H200 for a 1x1 64->64 convolution at 56x56).
 *
 * A split product also sums dy's columns as it goes (gemm.ts `runGemmWithSumsOfB`): that is the
 * bias gradient, which the gradient of a convolution with a bias asks for next, of the same dy
 * (tfjs-core's fused conv2d and TL's own, src/executor/conv-gradients.ts: the filter gradient,
 * then sum(dy) over all but the channels). The Sum kernel takes it from here (`takeColumnSums`)
 * instead of reading dy again.
 */
import * as tf from '@tensorflow/tfjs';
import { i32, release, webgpuBackendOf, type WebGPUBackend } from './backend.ts';
import { eachSlot, kDigits, gemmFits, runGemmWithSumsOfB, SLOT, type GemmSource, type Slots } from './gemm.ts';

/** The column sums of the dy of the last filter gradient, until taken or the next one replaces them. */
let lastSums: { readonly dy: tf.TensorInfo; readonly sums: tf.TensorInfo; readonly backend: WebGPUBackend } | undefined;

function keepSums(next: typeof lastSums): void {
  if (lastSums !== undefined) release(lastSums.backend, lastSums.sums);
  lastSums = next;
}

/**
 * Gives back the sums kept from the last filter gradient, where no Sum took them (a convolution
 * without a bias). A recorded step calls this at its end (step-graph.ts): otherwise the step's last
 * sums would hold a buffer into the next step, another one after a step of another shape, and the
 * next step would take its buffers in another order than the one after it.
 */
export function dropKeptSums(): void {
  keepSums(undefined);
}

/**
 * The sums over all but the last axis of `x`, if the last filter gradient made them from this same
 * tensor (same data, same shape): handed over once, as the result of a Sum kernel.
 */
export function takeColumnSums(x: tf.TensorInfo): tf.TensorInfo | undefined {
  if (lastSums === undefined || lastSums.dy.dataId !== x.dataId || lastSums.dy.shape.join() !== x.shape.join()) return undefined;
  const { sums } = lastSums;
  lastSums = undefined;
  return sums;
}

const UNIFORMS = 'inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, strideH : i32, strideW : i32, dilH : i32, dilW : i32, padT : i32, padL : i32, filterW : i32,';

/**
 * What is fixed for this invocation: the m of each slot of A (a tap and an input channel, as the
 * offset `aOff{s}` of its value from the position a k reads: the tap's rows and columns and the
 * channel) and the n of each slot of B, from the columns `aCol` and `bCol` it loads.
 */
function setup(slots: Slots, aCol: string, bCol: string): string {
  return `
    let kwc = uniforms.filterW * uniforms.inC;
    let outHW = uniforms.outH * uniforms.outW;
    ${eachSlot(slots.a, (s) => `
    let aM${s} = tileM + ${SLOT * s} + ${aCol};
    let fh${s} = aM${s} / kwc;
    let fw${s} = (aM${s} - fh${s} * kwc) / uniforms.inC;
    let offH${s} = fh${s} * uniforms.dilH - uniforms.padT;
    let offW${s} = fw${s} * uniforms.dilW - uniforms.padL;
    let aOff${s} = (offH${s} * uniforms.inW + offW${s}) * uniforms.inC + aM${s} - fh${s} * kwc - fw${s} * uniforms.inC;
    let aValid${s} = aM${s} < uniforms.M;`)}
    ${eachSlot(slots.b, (s) => `
    let bN${s} = tileN + ${SLOT * s} + ${bCol};
    let bValid${s} = bN${s} < uniforms.N;`)}`;
}

/** The position (image, row, column of dy) of the k this invocation reads a step, one vec4 at a time (`kDigits`). */
const POSITION = kDigits('pos', 'kBegin + kk', 'uniforms.outH', 'uniforms.outW');

/**
 * Decodes k (a position of the batch) once, and reads X(aM{s}, k) into `av{s}` and dY(k, bN{s})
 * into `bv{s}` for each slot: one value each, or four neighbouring ones. Four values a load take
 * the position carried from the step before (`POSITION`); one value a load (channels not in
 * fours: a stem's) divides, two integer divisions a load. A pointwise convolution's (1x1, stride
 * 1, no padding) x is an [K, M] matrix, positions by input channels: nothing to decode.
 */
function read(slots: Slots, values: 1 | 4, pointwise: boolean): string {
  const type = values === 4 ? 'vec4<f32>' : 'f32';
  const at = (index: string) => (values === 4 ? `(${index}) / 4` : index);
  const position = values === 4
    ? `
      let bi = posHi;
      let oh = posMid;
      let ow = posLo;`
    : `
      let bi = k / outHW;
      let p = k - bi * outHW;
      let oh = p / uniforms.outW;
      let ow = p - oh * uniforms.outW;`;
  const a = pointwise
    ? eachSlot(slots.a, (s) => `
      var av${s} = ${type}(0.0);
      if (k < kEnd && aValid${s}) {
        av${s} = x[${at(`k * uniforms.inC + aM${s}`)}];
      }`)
    : `${position}
      let ihk = oh * uniforms.strideH;
      let iwk = ow * uniforms.strideW;
      let kPos = ((bi * uniforms.inH + ihk) * uniforms.inW + iwk) * uniforms.inC;
      ${eachSlot(slots.a, (s) => `
      var av${s} = ${type}(0.0);
      if (k < kEnd && aValid${s} && ihk + offH${s} >= 0 && ihk + offH${s} < uniforms.inH && iwk + offW${s} >= 0 && iwk + offW${s} < uniforms.inW) {
        av${s} = x[${at(`kPos + aOff${s}`)}];
      }`)}`;
  return `${a}
      ${eachSlot(slots.b, (s) => `
      var bv${s} = ${type}(0.0);
      if (k < kEnd && bValid${s}) {
        bv${s} = dy[${at(`k * uniforms.N + bN${s}`)}];
      }`)}`;
}

const sources = new Map<string, GemmSource>();

/**
 * The product's source. Loaders walk m for A (neighbours read neighbouring input channels of x)
 * and n for B (neighbouring channels of dy). With one value a load, this invocation loads column
 * li % 64 of each slot of both, at the k-rows li / 64 + 4 r. With four, for channel counts that
 * are multiples of 4 (four neighbouring m are four input channels of one tap, four neighbouring n
 * four channels of dy), one vec4 of each slot a step, straight into a vec4 of its tile (k-row
 * li / 16, vec4 column li % 16 of the slot), k decoded once for all.
 */
function sourceOf(values: 1 | 4, pointwise: boolean): GemmSource {
  const key = `conv2dFilterGrad${values === 4 ? 'Vec4' : ''}${pointwise ? 'Pointwise' : ''}`;
  let source = sources.get(key);
  if (source !== undefined) return source;
  source =
    values === 4
      ? {
          key,
          inputs: ['x', 'dy'],
          uniforms: UNIFORMS,
          components: [4, 4],
          setup: (slots) => `
    let q = li % 16;
    let kk = li / 16;
    ${setup(slots, '4 * q', '4 * q')}
    ${pointwise ? '' : POSITION.declare}`,
          fetch: (slots) => `
    let k = k0 + kk;
    ${read(slots, 4, pointwise)}
    ${eachSlot(slots.a, (s) => `ra${s} = av${s};`)}
    ${eachSlot(slots.b, (s) => `rb${s} = bv${s};`)}
    ${pointwise ? '' : POSITION.advance}`,
          store: (slots) => `
    ${eachSlot(slots.a, (s) => `tileA[kw + kk][${SLOT / 4 * s} + q] = ra${s};`)}
    ${eachSlot(slots.b, (s) => `tileB[kw + kk][${SLOT / 4 * s} + q] = rb${s};`)}`,
        }
      : {
          key,
          inputs: ['x', 'dy'],
          uniforms: UNIFORMS,
          setup: (slots) => `
    let mm = li % ${SLOT};
    ${setup(slots, 'mm', 'mm')}`,
          fetch: (slots) => `
    for (var r = 0; r < 4; r++) {
      let k = k0 + li / ${SLOT} + 4 * r;
      ${read(slots, 1, pointwise)}
      ${eachSlot(slots.a, (s) => `ra${s}[r] = av${s};`)}
      ${eachSlot(slots.b, (s) => `rb${s}[r] = bv${s};`)}
    }`,
          store: (slots) => `
    for (var r = 0; r < 4; r++) {
      let kk = li / ${SLOT} + 4 * r;
      ${eachSlot(slots.a, (s) => `storeA(kw + kk, ${SLOT * s} + mm, ra${s}[r]);`)}
      ${eachSlot(slots.b, (s) => `storeB(kw + kk, ${SLOT * s} + mm, rb${s}[r]);`)}
    }`,
        };
  sources.set(key, source);
  return source;
}

/** The Conv2DBackpropFilter kernel for float32 NHWC; anything else goes to `fallback`. */
export function makeConv2DBackpropFilter(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs;
    const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropFilterAttrs;
    const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
    if (x === undefined || dy === undefined || format !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32') return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, format,
    );
    const m = info.filterHeight * info.filterWidth * info.inChannels;
    const n = info.outChannels;
    const k = info.batchSize * info.outHeight * info.outWidth;
    if (!gemmFits(m, n) || k === 0) return fallback(args);
    // x and dy over the same positions: 1x1, stride 1, no padding on any side.
    const { top, bottom, left, right } = info.padInfo;
    const pointwise = info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 && info.strideWidth === 1 && top === 0 && bottom === 0 && left === 0 && right === 0;
    const source = sourceOf(info.inChannels % 4 === 0 && info.outChannels % 4 === 0 ? 4 : 1, pointwise);
    const backend = webgpuBackendOf(args.backend);
    const uniforms = [
      i32(info.inHeight), i32(info.inWidth), i32(info.inChannels), i32(info.outHeight), i32(info.outWidth),
      i32(info.strideHeight), i32(info.strideWidth), i32(info.dilationHeight), i32(info.dilationWidth),
      i32(info.padInfo.top), i32(info.padInfo.left), i32(info.filterWidth),
    ];
    const { product, sumsOfB } = runGemmWithSumsOfB(backend, source, { m, n, k }, [x, dy], uniforms, info.filterShape);
    keepSums(sumsOfB && { dy, sums: sumsOfB, backend });
    return product;
  };
}
