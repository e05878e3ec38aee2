/**
 * Model zoo benchmark on the wasm backend: time to build a base with its weights, and inference
 * throughput, for mobilenetv2 (bundled pretrained weights) and tiny at 96 and 224 px.
 *
 *   npx tsx bench/zoo.ts
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { cpus } from 'node:os';
import { buildBase } from '../src/executor/zoo/build-base.ts';
import type { Model } from '../src/plan/schema.ts';

const BATCH = 8;
/** Measure at least this long per row, after one warm-up batch. */
const MIN_SECONDS = 3;

const origin = { start: 0, end: 0, line: 1, column: 1 };
const cases: { name: string; input: number; weights: Model['weights'] }[] = [
  { name: 'mobilenetv2', input: 96, weights: { kind: 'imagenet' } },
  { name: 'mobilenetv2', input: 224, weights: { kind: 'imagenet' } },
  { name: 'tiny', input: 96, weights: { kind: 'none' } },
  { name: 'tiny', input: 224, weights: { kind: 'none' } },
];

await tf.setBackend('wasm');
await tf.ready();

const rows: string[] = [];
for (const c of cases) {
  const start = performance.now();
  const base = await buildBase({ kind: 'zoo', name: c.name, input: c.input, weights: c.weights, cut: null, origin }, { baseDir: '.' });
  const loadMs = performance.now() - start;
  const batch = tf.randomUniform([BATCH, c.input, c.input, 3], -1, 1);
  const run = async (): Promise<void> => {
    const out = base.model.predict(batch) as tf.Tensor;
    await out.data();
    out.dispose();
  };
  await run();
  let images = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < MIN_SECONDS * 1000) {
    await run();
    images += BATCH;
  }
  const perSecond = images / ((performance.now() - t0) / 1000);
  const shape = JSON.stringify(base.model.outputShape);
  rows.push(`| ${c.name} | ${c.weights.kind} | ${c.input} | ${shape} | ${loadMs.toFixed(0)} | ${perSecond.toFixed(1)} |`);
  batch.dispose();
  base.model.dispose();
}

console.log(`\nwasm backend, batch ${BATCH}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}\n`);
console.log('| model | weights | input px | features | load ms | inference img/s |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
