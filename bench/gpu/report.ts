/** The GPU benchmark's summary table: tfjs (with TL's kernels and without) beside PyTorch measured in the same run. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TILES, type TileName } from '../../src/executor/backends/webgpu/gemm.ts';
import type { TuneResult } from '../../src/executor/backends/webgpu/tune.ts';
import type { ModelRow } from './models.ts';
import { fmt, type Work } from './timing.ts';

type TorchEntry = { readonly ms?: number; readonly ips?: number; readonly tflops?: number };
export type TorchResults = Readonly<Record<string, TorchEntry>>;

/** The JSON after `tag` in a PyTorch reference's output (`TORCH {...}`), or an empty record. */
export function readTorch(dir: string | undefined, file: string, tag: string): TorchResults {
  if (!dir || !existsSync(join(dir, file))) return {};
  const line = readFileSync(join(dir, file), 'utf8').split('\n').find((l) => l.startsWith(`${tag} `));
  return line ? (JSON.parse(line.slice(tag.length + 1)) as TorchResults) : {};
}

const ips = (row: ModelRow, ms: number | null) => (ms === null ? null : (row.batch / ms) * 1000);

export function summaryTable(matmul: { n: number; tflops: number } | null, models: readonly ModelRow[], torch: { resnet50: TorchResults; mobilenetv2: TorchResults }): string {
  const lines = [
    '| what | tfjs + TL kernels | tfjs, its own kernels | PyTorch fp32 | PyTorch TF32 | TL / PyTorch fp32 | goal |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  if (matmul) {
    const t = torch.resnet50['matmul_fp32']?.tflops ?? null;
    const t32 = torch.resnet50['matmul_tf32']?.tflops ?? null;
    lines.push(`| ${matmul.n}^2 matmul, TFLOP/s | ${fmt(matmul.tflops)} | (same kernel) | ${fmt(t)} | ${fmt(t32)} | ${t ? fmt(matmul.tflops / t) : '-'} | |`);
  }
  for (const row of models) {
    const ref = torch[row.model];
    const name = row.model === 'resnet50' ? 'ResNet50' : 'MobileNetV2';
    const infer = ips(row, row.inferMs);
    const train = ips(row, row.trainMs);
    const ti = ref['infer_fp32']?.ips ?? null;
    const tt = ref['train_fp32']?.ips ?? null;
    lines.push(`| ${name} inference, each batch read before the next is queued, images/s (batch ${row.batch}, ${row.size} px) | ${fmt(infer, 1)} | ${fmt(ips(row, row.stockInferMs), 1)} | ${fmt(ti, 1)} | ${fmt(ref['infer_tf32']?.ips, 1)} | ${ti && infer ? fmt(infer / ti, 3) : '-'} | |`);
    const inferPiped = ips(row, row.pipelinedInferMs);
    lines.push(`| ${name} inference as TL's predictions run it (batches made from bytes, each read after the next is queued, recorded and replayed), images/s | ${fmt(inferPiped, 1)} | - | ${fmt(ti, 1)} | ${fmt(ref['infer_tf32']?.ips, 1)} | ${ti && inferPiped ? fmt(inferPiped / ti, 3) : '-'} | 0.8 |`);
    const inferPlain = ips(row, row.pipelinedPlainInferMs);
    lines.push(`| ${name} inference pipelined, each batch run as it is, images/s | ${fmt(inferPlain, 1)} | - | ${fmt(ti, 1)} | ${fmt(ref['infer_tf32']?.ips, 1)} | ${ti && inferPlain ? fmt(inferPlain / ti, 3) : '-'} | |`);
    lines.push(`| ${name} training step (trainOnBatch, loss read each step), images/s | ${fmt(train, 1)} | ${fmt(ips(row, row.stockTrainMs), 1)} | ${fmt(tt, 1)} | ${fmt(ref['train_tf32']?.ips, 1)} | ${tt && train ? fmt(train / tt, 3) : '-'} | |`);
    const piped = ips(row, row.pipelinedTrainMs);
    lines.push(`| ${name} SGD training steps pipelined (each loss read after the next step is queued), each step run as it is, images/s | ${fmt(piped, 1)} | - | ${fmt(tt, 1)} | ${fmt(ref['train_tf32']?.ips, 1)} | ${tt && piped ? fmt(piped / tt, 3) : '-'} | 0.5 |`);
    const executor = ips(row, row.executorStepMs);
    lines.push(`| ${name}, the executor's own step as \`tl run\` runs it (images made from bytes, flip + rotate 15, Adam, metrics; pipelined; recorded, then replayed), images/s | ${fmt(executor, 1)} | - | ${fmt(tt, 1)} | ${fmt(ref['train_tf32']?.ips, 1)} | ${tt && executor ? fmt(executor / tt, 3) : '-'} | 0.5 |`);
    const plain = ips(row, row.executorPlainStepMs);
    lines.push(`| ${name}, the same with each step run as it is (TL_STEP_REPLAY=0), images/s | ${fmt(plain, 1)} | - | ${fmt(tt, 1)} | ${fmt(ref['train_tf32']?.ips, 1)} | ${tt && plain ? fmt(plain / tt, 3) : '-'} | |`);
  }
  return lines.join('\n');
}

/**
 * Dispatches and uploads of one training step, with TL's kernels and with tfjs's, and the host
 * time of queuing it (until the loss is read, submits included): a step whose host time is near its
 * wall time is bound by the host, not the GPU.
 */
export function workTable(models: readonly ModelRow[]): string {
  const lines = [
    '| work of one batch | dispatches, TL | dispatches, tfjs | uploads, TL | uploads, tfjs | host ms, TL (of which submits) | host ms, tfjs | wall ms, TL |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const host = (w: Work | null) => (w === null ? '-' : fmt(w.hostMs + w.submitMs, 1));
  for (const row of models) {
    const name = `${row.model === 'resnet50' ? 'ResNet50' : 'MobileNetV2'} (batch ${row.batch}, ${row.size} px)`;
    const tl = row.trainWork;
    lines.push(`| ${name} | ${tl.dispatches} | ${row.stockTrainWork?.dispatches ?? '-'} | ${tl.uploads} | ${row.stockTrainWork?.uploads ?? '-'} | ${host(tl)} (${fmt(tl.submitMs, 1)}) | ${host(row.stockTrainWork)} | ${fmt(row.trainMs, 1)} |`);
    const inf = row.inferWork;
    lines.push(`| ${name}, inference (BatchNorm folded) | ${inf.dispatches} | ${row.stockInferWork?.dispatches ?? '-'} | ${inf.uploads} | ${row.stockInferWork?.uploads ?? '-'} | ${host(inf)} (${fmt(inf.submitMs, 1)}) | ${host(row.stockInferWork)} | ${fmt(row.inferMs, 1)} |`);
  }
  for (const row of models) {
    const t = row.tuned;
    const i = row.tunedInference;
    lines.push('', `${row.model}: GEMM tiles measured for ${t.products} products of the training pass in ${fmt(t.ms / 1000, 1)} s; they run on ${choices(t)}, and ${t.changed} differ from the tile by shape. Then ${i.products} products of the folded inference pass in ${fmt(i.ms / 1000, 1)} s: ${choices(i)}, ${i.changed} changed.`);
  }
  return lines.join('\n');
}

/** How many of the measured products run on each tile and on tfjs's kernel, e.g. "64x64 40, 128x64 12, tfjs 3, K whole 2". */
export function choices(t: TuneResult): string {
  const tiles = Object.entries(t.tiles).filter(([, count]) => count > 0).map(([name, count]) => `${name} ${count}`);
  return [...tiles, `tfjs ${t.backend}`, `K whole ${t.unsplit}`].join(', ');
}

/**
 * Every GEMM product the tuner measured for each network: ms per run on each option (- where not
 * measured; a tile's K split as the rule says, and the fastest tile with K whole where that was
 * offered), and its choice (`64x64/1`: K whole).
 */
export function tunedTable(models: readonly ModelRow[]): string {
  const names = Object.keys(TILES) as TileName[];
  const lines = [`| network | product (source) | M x N x K | ${names.map((name) => `${name} ms`).join(' | ')} | K whole ms | tfjs ms | runs on |`, `| --- | --- | --- | ${names.map(() => '---').join(' | ')} | --- | --- | --- |`];
  for (const row of models) {
    for (const p of [...row.tuned.measured, ...row.tunedInference.measured]) {
      const whole = names.map((name) => p.ms[`${name}/1`]).filter((ms): ms is number => ms !== undefined && !Number.isNaN(ms));
      lines.push(`| ${row.model} | ${p.source} | ${p.dims.m} x ${p.dims.n} x ${p.dims.k} | ${names.map((name) => fmt(p.ms[name])).join(' | ')} | ${fmt(whole.length > 0 ? Math.min(...whole) : undefined)} | ${fmt(p.ms.backend)} | ${p.choice === 'backend' ? 'tfjs' : p.choice} |`);
    }
  }
  return lines.join('\n');
}

/**
 * Where one training step's (or, with `pass` 'inference', one inference batch's) GPU time goes, by
 * program: the `top` most costly of each network, then the rest in one row.
 */
export function stepProfileTable(models: readonly ModelRow[], top = 14, pass: 'training' | 'inference' = 'training'): string {
  const lines = ['| network | program | runs | GPU ms | share |', '| --- | --- | --- | --- | --- |'];
  for (const row of models) {
    const profile = pass === 'training' ? row.stepProfile : row.inferProfile;
    const total = profile.reduce((a, p) => a + p.ms, 0);
    const share = (ms: number) => (total > 0 ? `${fmt((100 * ms) / total, 1)}%` : '-');
    for (const p of profile.slice(0, top)) lines.push(`| ${row.model} | ${p.program} | ${p.runs} | ${fmt(p.ms)} | ${share(p.ms)} |`);
    const rest = profile.slice(top);
    if (rest.length > 0) {
      const ms = rest.reduce((a, p) => a + p.ms, 0);
      lines.push(`| ${row.model} | ${rest.length} other programs | ${rest.reduce((a, p) => a + p.runs, 0)} | ${fmt(ms)} | ${share(ms)} |`);
    }
    const against = pass === 'training' ? `${fmt(row.pipelinedTrainMs)} ms a pipelined step` : `${fmt(row.pipelinedInferMs)} ms a pipelined batch`;
    lines.push(`| ${row.model} | **all** | ${profile.reduce((a, p) => a + p.runs, 0)} | ${fmt(total)} | against ${against} |`);
  }
  return lines.join('\n');
}
