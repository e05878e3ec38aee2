/**
 * Why elementwise ops looked slow (relu on 103 MB in 21 ms on an H200, ../shared/gpu/README.md):
 * the same op timed three ways, the read-back and upload costs on their own, and the host cost of
 * one small op. The profile that produced the 21 ms synchronised with `await data()` on the full
 * output every 5 calls, so it timed a 103 MB read-back as much as the kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { groups, runProgram, webgpuBackendOf, type WebGPUProgram } from '../../src/executor/backends/webgpu/backend.ts';
import { fmt, kernelMs, msPerCall, sync } from './timing.ts';

/**
 * y = 2x + 1 over vec4s, `per` vec4s an invocation in workgroups of `width`: TL's elementwise
 * passes (FlatProgram: the BatchNorm's normalisation and input gradient, the masks, the residual
 * sums) run as width 64, one vec4 an invocation; in the first GPU run they moved 0.7-1.4 TB/s on
 * a 4.8 TB/s card. The other shapes say whether fewer, wider workgroups or more work an invocation
 * would move more. A workgroup's j-th vec4s are contiguous, so each load is coalesced.
 */
class BandwidthProbe implements WebGPUProgram {
  readonly variableNames = ['x'];
  readonly variableComponents = [4];
  readonly uniforms = '';
  readonly outputComponent = 4;
  readonly size = true;
  readonly workgroupSize: [number, number, number];
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];
  readonly outputShape: number[];
  readonly shaderKey: string;

  constructor(shape: readonly number[], private readonly width: number, private readonly per: number) {
    this.outputShape = [...shape];
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    this.workgroupSize = [width, 1, 1];
    this.dispatch = [groups(shape.reduce((a, b) => a * b, 1) / 4, width * per), 1, 1];
    this.shaderKey = `tlBandwidthProbe_${width}_${per}`;
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        let first = (index / ${this.width}) * ${this.width * this.per} + index % ${this.width};
        for (var j = 0; j < ${this.per}; j++) {
          let i = first + j * ${this.width};
          if (i < uniforms.size) {
            result[i] = x[i] * 2.0 + 1.0;
          }
        }
      }`;
  }
}

export interface DiagnosticRow { readonly what: string; readonly ms: number | null; readonly note: string }

async function profileStyle(make: () => tf.Tensor): Promise<number> {
  // As tfjs-webgpu-kernel-profile.mjs: one warm call read back, then 5 calls and a full read-back.
  let r = make();
  await r.data();
  r.dispose();
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) {
    r = make();
    if (i < 4) r.dispose();
  }
  await r.data();
  r.dispose();
  return (performance.now() - t0) / 5;
}

export async function elementwiseRows(shape: number[], timestamps: boolean): Promise<DiagnosticRow[]> {
  const mb = (shape.reduce((a, b) => a * b, 1) * 4) / 1e6;
  const label = `${shape.join('x')} (${mb.toFixed(0)} MB)`;
  const x = tf.randomNormal(shape);
  await sync(x);
  const rows: DiagnosticRow[] = [];
  for (const [name, make] of [['relu', () => tf.relu(x)], ['mul', () => tf.mul(x, x)]] as const) {
    rows.push({ what: `${name} ${label}, profile's method (5 calls + full read-back)`, ms: await profileStyle(make), note: 'what the first profile reported' });
    const chained = await msPerCall(make, 20);
    rows.push({ what: `${name}, 20 calls chained, one value read`, ms: chained, note: `${fmt((2 * mb) / chained, 0)} GB/s (read + write)` });
    rows.push({ what: `${name}, GPU time (timestamp queries)`, ms: await kernelMs(make, timestamps), note: timestamps ? '' : 'adapter has no timestamp-query' });
  }
  if (tf.getBackend() === 'webgpu') {
    const backend = webgpuBackendOf(tf.backend());
    const probes = [[64, 1], [256, 1], [64, 4], [256, 4]] as const;
    for (const [p, [width, per]] of probes.entries()) {
      const probe = (input: tf.Tensor) => tf.engine().makeTensorFromTensorInfo(runProgram(backend, new BandwidthProbe(shape, width, per), [input], []));
      const make = () => probe(x);
      // Checked once, on an input no earlier pass saw (a reused buffer then holds no right
      // answers): a probe that skipped or repeated values would time less work than it says.
      const error = tf.tidy(() => {
        const input = tf.add(x, p + 1);
        return tf.max(tf.abs(tf.sub(probe(input), tf.add(tf.mul(input, 2), 1))));
      });
      const wrong = (await error.data())[0]!;
      error.dispose();
      const what = `flat pass y = 2x + 1 on vec4s, workgroup ${width}, ${per} vec4 an invocation${width === 64 && per === 1 ? ' (TL\'s elementwise passes)' : ''}`;
      if (!(wrong < 1e-5)) {
        rows.push({ what, ms: null, note: `not timed: wrong values (max error ${wrong})` });
        continue;
      }
      const chained = await msPerCall(make, 20);
      const gpu = await kernelMs(make, timestamps);
      const rate = (ms: number | null) => (ms === null || ms <= 0 ? '-' : `${fmt((2 * mb) / ms, 0)} GB/s`);
      rows.push({ what, ms: chained, note: `${rate(chained)} chained; GPU ${fmt(gpu, 3)} ms, ${rate(gpu)}` });
    }
  }
  {
    const y = tf.relu(x);
    await sync(y);
    const t0 = performance.now();
    await y.data();
    rows.push({ what: `read-back of ${label} with await data()`, ms: performance.now() - t0, note: 'staging copy, map, JS copy' });
    y.dispose();
  }
  rows.push({
    what: `tf.ones(${shape.join('x')}) and its first use`,
    ms: await msPerCall(() => tf.add(tf.ones(shape), 0), 3, 1),
    note: 'filled in JS and uploaded: what tfjs\'s Mean/Sum gradients paid per call',
  });
  const a = tf.add(tf.randomNormal([4096]), 0);
  const b = tf.add(tf.randomNormal([4096]), 0);
  await sync(a);
  await sync(b);
  const n = 2000;
  const chain = async (step: (t: tf.Tensor) => tf.Tensor) => {
    const t0 = performance.now();
    let t = tf.clone(a);
    for (let i = 0; i < n; i++) {
      const next = step(t);
      t.dispose();
      t = next;
    }
    await sync(t);
    t.dispose();
    return ((performance.now() - t0) / n) * 1000;
  };
  await chain((t) => tf.add(t, b));
  rows.push({ what: `host cost of one small op (add of two 4096-vectors on the GPU), ${n} chained`, ms: (await chain((t) => tf.add(t, b))) / 1000, note: 'per op; a ResNet50 training step dispatches a few thousand' });
  rows.push({ what: 'the same with a JS scalar operand (tf.mul(t, 0.999))', ms: (await chain((t) => tf.mul(t, 0.999))) / 1000, note: 'adds one scalar upload (a staging buffer created and destroyed) per op' });
  tf.dispose([x, a, b]);
  return rows;
}

export function diagnosticTable(rows: readonly DiagnosticRow[]): string {
  return ['| measurement | ms | note |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.what} | ${fmt(r.ms, 3)} | ${r.note} |`)].join('\n');
}
