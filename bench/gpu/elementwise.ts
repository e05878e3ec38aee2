/**
 * Why elementwise ops looked slow (relu on 103 MB in 21 ms on an H200, ../shared/gpu/README.md):
 * the same op timed three ways, the read-back and upload costs on their own, and the host cost of
 * one small op. The profile that produced the 21 ms synchronised with `await data()` on the full
 * output every 5 calls, so it timed a 103 MB read-back as much as the kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { fmt, kernelMs, msPerCall, sync } from './timing.ts';

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
