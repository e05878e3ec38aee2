/**
 * Conv2DBackpropInput as an implicit GEMM. With dx seen as a matrix dX[m = (b, ih, iw), n = ci]
 * (its own row-major layout), it is
 *   dX = sum over k = (fh, fw, co) of dY(m, k) * W(k, n)
 * where W(k, n) = w[fh, fw, ci = n, co] and dY(m, k) = dy[b, oh, ow, co] for the output position
 * that tap (fh, fw) of (ih, iw) came from: oh = (ih + padT - fh) / sh when that divides exactly
 * and lies in the output, zero otherwise. The same kernel serves conv2dTranspose.
 *
 * With a stride s > 1 only one tap in s (per axis) divides exactly for a given ih, so that product
 * would spend (s^2 - 1) / s^2 of its work on zeros. A strided dx is computed by phases instead
 * (the sub-pixel split): the rows ih = ph + i' s of one phase all take the taps fh = f0 + a s with
 * f0 = (ph + padT) mod s, and there oh = (ph + padT - f0) / s + i' - a: a stride-1 product over
 * that phase's grid and taps. Each phase's product lands in a compact tensor that one pass spreads
 * onto dx; phases without taps (a 1x1 convolution's, all but one) are zeros.
 */
import * as tf from '@tensorflow/tfjs';
import { decodeNhwc, FlatProgram, i32, inFours, lit, release, runProgram, sizeOf, webgpuBackendOf, type Uniform } from './backend.ts';
import { eachSlot, gemmFits, kDigits, runGemm, SLOT, type BackendKernel, type GemmSource, type Slots } from './gemm.ts';

// A stride-1 product (strided ones run by phases, below). k runs over `tapsW`-wide rows of taps
// (fh, fw); tap (fh, fw) is the filter's (tapH0 + fh tapStepH, tapW0 + fw tapStepW), of a filter
// `filterW` wide.
const UNIFORMS = 'inH : i32, inW : i32, inC : i32, outH : i32, outW : i32, outC : i32, padT : i32, padL : i32, tapsW : i32, tapH0 : i32, tapW0 : i32, tapStepH : i32, tapStepW : i32, filterW : i32,';

/** The tap (fh, fw) and channel co of the first of the four k this invocation reads a step, four at a time (`kDigits`). */
const TAP = kDigits('tap', 'kBegin + 4 * kq', 'uniforms.tapsW', 'uniforms.outC');

// Both operands are contiguous along k = (fh, fw, co) (co is innermost in dy and in w), so loaders
// walk k: this invocation owns one row of each slot of each tile (a dx position m and a channel n,
// decoded once here) and loads four neighbouring k of it a step, from k-column 4 (li % 4). With
// many taps, four values a load, k's tap and channel are carried from step to step (`TAP`).
function setup(slots: Slots, carried: boolean): string {
  return `
    let kq = li % 4;
    let row = li / 4;
    let inHW = uniforms.inH * uniforms.inW;
    let kwc = uniforms.tapsW * uniforms.outC;
    ${eachSlot(slots.a, (s) => `
    let m${s} = tileM + ${SLOT * s} + row;
    let bi${s} = m${s} / inHW;
    let p${s} = m${s} - bi${s} * inHW;
    let ih${s} = p${s} / uniforms.inW;
    let aH${s} = ih${s} + uniforms.padT;
    let aW${s} = p${s} - ih${s} * uniforms.inW + uniforms.padL;
    let aOk${s} = m${s} < uniforms.M;
    let aInside${s} = aOk${s} && aH${s} >= 0 && aW${s} >= 0 && aH${s} < uniforms.outH && aW${s} < uniforms.outW;
    let aPos${s} = ((bi${s} * uniforms.outH + aH${s}) * uniforms.outW + aW${s}) * uniforms.outC;`)}
    ${eachSlot(slots.b, (s) => `
    let n${s} = tileN + ${SLOT * s} + row;
    let nOk${s} = n${s} < uniforms.N;
    let bPos${s} = ((uniforms.tapH0 * uniforms.filterW + uniforms.tapW0) * uniforms.inC + n${s}) * uniforms.outC;`)}
    ${carried ? TAP.declare : ''}`;
}

/**
 * Decodes k (a tap and an output channel) once, into its offsets from each slot's position, and
 * reads dY(m{s}, k) into `av{s}` and W(k, n{s}) into `bv{s}`: one value each, or four neighbouring
 * ones. Four values a load take k's digits carried from the step before (`TAP`); one value a load
 * (output channels not in fours) divides. With one tap (every phase of a 1x1 convolution, some of
 * a strided 3x3's) k is the output channel and the position the slot's own: nothing to decode.
 */
function read(slots: Slots, values: 1 | 4, oneTap: boolean): string {
  const type = values === 4 ? 'vec4<f32>' : 'f32';
  const at = (index: string) => (values === 4 ? `(${index}) / 4` : index);
  const reads = (aOk: (s: number) => string, aAt: (s: number) => string, bAt: (s: number) => string) => `
      ${eachSlot(slots.a, (s) => `
      var av${s} = ${type}(0.0);
      if (kIn && ${aOk(s)}) {
        av${s} = dy[${at(aAt(s))}];
      }`)}
      ${eachSlot(slots.b, (s) => `
      var bv${s} = ${type}(0.0);
      if (kIn && nOk${s}) {
        bv${s} = w[${at(bAt(s))}];
      }`)}`;
  if (oneTap) return `
      let kIn = k < kEnd;
      ${reads((s) => `aInside${s}`, (s) => `aPos${s} + k`, (s) => `bPos${s} + k`)}`;
  const tap = values === 4
    ? `
      let fh = tapHi;
      let fw = tapMid;
      let co = tapLo;`
    : `
      let fh = k / kwc;
      let fr = k - fh * kwc;
      let fw = fr / uniforms.outC;
      let co = fr - fw * uniforms.outC;`;
  return `
      let kIn = k < kEnd;${tap}
      let aOff = co - (fh * uniforms.outW + fw) * uniforms.outC;
      let bOff = (fh * uniforms.tapStepH * uniforms.filterW + fw * uniforms.tapStepW) * uniforms.inC * uniforms.outC + co;
      ${reads(
        (s) => `aOk${s} && aH${s} - fh >= 0 && aW${s} - fw >= 0 && aH${s} - fh < uniforms.outH && aW${s} - fw < uniforms.outW`,
        (s) => `aPos${s} + aOff`,
        (s) => `bPos${s} + bOff`,
      )}`;
}

/** Four neighbouring k of this invocation's row of each slot of each tile. */
function store(slots: Slots): string {
  return `
    for (var j = 0; j < 4; j++) {
      ${eachSlot(slots.a, (s) => `storeA(kw + 4 * kq + j, ${SLOT * s} + row, ra${s}[j]);`)}
      ${eachSlot(slots.b, (s) => `storeB(kw + 4 * kq + j, ${SLOT * s} + row, rb${s}[j]);`)}
    }`;
}

const sources = new Map<string, GemmSource>();

/**
 * The product's source: four neighbouring k of this invocation's row of each tile a step, as four
 * scalars or, for output channel counts that are multiples of 4, as one vec4 of each operand (four
 * channels of dy and of w at one tap, decoded once); with one tap or many.
 */
function sourceOf(values: 1 | 4, oneTap: boolean): GemmSource {
  const key = `conv2dInputGrad${values === 4 ? 'Vec4' : ''}${oneTap ? 'OneTap' : ''}`;
  let source = sources.get(key);
  if (source === undefined) {
    const registers = (slots: Slots, lane: string) => `
      ${eachSlot(slots.a, (s) => `ra${s}${lane} = av${s};`)}
      ${eachSlot(slots.b, (s) => `rb${s}${lane} = bv${s};`)}`;
    source = {
      key,
      inputs: ['dy', 'w'],
      uniforms: UNIFORMS,
      ...(values === 4 && { components: [4, 4] as const }),
      setup: (slots) => setup(slots, values === 4 && !oneTap),
      fetch: (slots) =>
        values === 4
          ? `
    let k = k0 + 4 * kq;
    ${read(slots, 4, oneTap)}
    ${registers(slots, '')}
    ${oneTap ? '' : TAP.advance}`
          : `
    for (var j = 0; j < 4; j++) {
      let k = k0 + 4 * kq + j;
      ${read(slots, 1, oneTap)}
      ${registers(slots, '[j]')}
    }`,
      store,
    };
    sources.set(key, source);
  }
  return source;
}

/**
 * Writes a phase's compact [B, rows, cols, C] result onto dx at (phH + i' sh, phW + j' sw); four
 * channels an invocation where channels come in fours (`inC` is then the count of fours).
 */
class PhaseSpreadProgram extends FlatProgram {
  readonly variableNames = ['compact'];
  readonly uniforms = 'inH : i32, inW : i32, inC : i32, rows : i32, cols : i32, phH : i32, phW : i32, strideH : i32, strideW : i32,';
  readonly shaderKey: string;

  constructor(compactShape: readonly number[], vec4: boolean) {
    super(compactShape, vec4 ? 1 : undefined);
    this.shaderKey = `tlPhaseSpread${vec4 ? '_v4' : ''}`;
  }

  protected body(): string {
    return `
        ${decodeNhwc('rows', 'cols')}
        let row = uniforms.phH + ih * uniforms.strideH;
        let col = uniforms.phW + iw * uniforms.strideW;
        result[((bi * uniforms.inH + row) * uniforms.inW + col) * uniforms.inC + c] = compact[index];`;
  }
}

/**
 * Zeros over the output, for the phases that get no taps: four values an invocation where the size
 * allows (on the H200 the scalar pass took 0.85 ms of a ResNet50 step for its six strided 1x1
 * convolutions, about 0.7 TB/s).
 */
class ZeroProgram extends FlatProgram {
  readonly variableNames: string[] = [];
  readonly uniforms = '';
  readonly shaderKey: string;

  constructor(outputShape: readonly number[], private readonly vec4 = inFours(outputShape)) {
    super(outputShape, vec4 ? 0 : undefined);
    this.shaderKey = `tlZero${vec4 ? '_v4' : ''}`;
  }

  protected body(): string {
    return `result[index] = ${lit('0.0', this.vec4)};`;
  }
}

/** A stride-1 product's geometry: its dx grid and dy's, its padding, and which filter taps k runs over. */
interface Product {
  readonly inH: number; readonly inW: number; readonly inC: number; readonly outH: number; readonly outW: number; readonly outC: number;
  readonly padT: number; readonly padL: number;
  readonly tapsH: number; readonly tapsW: number; readonly tapH0: number; readonly tapW0: number; readonly tapStepH: number; readonly tapStepW: number; readonly filterW: number;
}

function uniformsOf(g: Product): Uniform[] {
  return [g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.padT, g.padL, g.tapsW, g.tapH0, g.tapW0, g.tapStepH, g.tapStepW, g.filterW]
    .map(i32);
}

type PhaseAxis = { readonly rows: number; readonly tap0: number; readonly taps: number; readonly pad: number };
type Phase = { readonly ph: number; readonly pw: number; readonly h: PhaseAxis; readonly w: PhaseAxis };

/**
 * One axis of the phase whose dx indices are ph, ph + s, ...: how many there are, the first filter
 * tap they take and how many taps, and the padding of the stride-1 product over them. With s = 1
 * the one phase is the whole axis, every tap, the convolution's own padding.
 */
function phaseAxis(ph: number, size: number, stride: number, pad: number, filter: number): PhaseAxis {
  const tap0 = (ph + pad) % stride;
  return { rows: Math.ceil((size - ph) / stride), tap0, taps: tap0 < filter ? Math.ceil((filter - tap0) / stride) : 0, pad: (ph + pad - tap0) / stride };
}

/** The Conv2DBackpropInput kernel for float32 NHWC; anything else goes to `fallback`. */
export function makeConv2DBackpropInput(fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs;
    const attrs = (args.attrs ?? {}) as unknown as tf.Conv2DBackpropInputAttrs;
    const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
    if (dy === undefined || filter === undefined || format !== 'channelsLast' || dy.dtype !== 'float32' || filter.dtype !== 'float32') return fallback(args);
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, format,
    );
    const n = info.inChannels;
    const m = info.batchSize * info.inHeight * info.inWidth;
    if (!gemmFits(m, n) || m === 0) return fallback(args);
    const backend = webgpuBackendOf(args.backend);
    const { strideHeight: sh, strideWidth: sw } = info;
    const phases: Phase[] = [];
    for (let ph = 0; ph < sh; ph++) {
      for (let pw = 0; pw < sw; pw++) {
        const h = phaseAxis(ph, info.inHeight, sh, info.padInfo.top, info.filterHeight);
        const w = phaseAxis(pw, info.inWidth, sw, info.padInfo.left, info.filterWidth);
        if (h.rows > 0 && w.rows > 0) phases.push({ ph, pw, h, w });
      }
    }
    const product = ({ h, w }: Phase, shape: number[], own?: BackendKernel) => {
      const g: Product = {
        inH: h.rows, inW: w.rows, inC: n, outH: info.outHeight, outW: info.outWidth, outC: info.outChannels, padT: h.pad, padL: w.pad,
        tapsH: h.taps, tapsW: w.taps, tapH0: h.tap0, tapW0: w.tap0, tapStepH: sh, tapStepW: sw, filterW: info.filterWidth,
      };
      const source = sourceOf(g.outC % 4 === 0 ? 4 : 1, g.tapsH * g.tapsW === 1);
      return runGemm(backend, source, { m: sizeOf(shape) / n, n, k: g.tapsH * g.tapsW * g.outC }, [dy, filter], uniformsOf(g), shape, own);
    };
    // Stride 1: one phase, the whole of dx; tfjs's kernel computes the same, for measurement to
    // prefer where it is the faster (tune.ts).
    if (sh === 1 && sw === 1) return product(phases[0]!, info.inShape, (ins) => fallback({ ...args, inputs: { ...args.inputs, dy: ins[0]!, filter: ins[1]! } }) as tf.TensorInfo);

    const dx = backend.makeTensorInfo(info.inShape, 'float32');
    if (phases.some((p) => p.h.taps === 0 || p.w.taps === 0)) runProgram(backend, new ZeroProgram(info.inShape), [], [], dx);
    for (const phase of phases) {
      const { ph, pw, h, w } = phase;
      if (h.taps === 0 || w.taps === 0) continue;
      const compact = product(phase, [info.batchSize, h.rows, w.rows, n]);
      const fours = n % 4 === 0;
      runProgram(backend, new PhaseSpreadProgram(compact.shape, fours), [compact], [
        info.inHeight, info.inWidth, fours ? n / 4 : n, h.rows, w.rows, ph, pw, sh, sw,
      ].map(i32), dx);
      release(backend, compact);
    }
    return dx;
  };
}
