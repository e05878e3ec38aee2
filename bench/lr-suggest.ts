/**
 * How steady a learning-rate search's suggestion is, and what a shorter search (`lr auto steps N`)
 * gives up: the quickstart's fine-tuning phase searched from the weights its head phase leaves,
 * once per seed and search length, with the rule TL suggests by (the steepest fall of the smoothed
 * loss over a quarter of a decade) beside fastai's "valley" rule (the middle of the longest run of
 * falling smoothed loss) and a tenth of the minimum. With `--train`, the phase is then trained at
 * each rule's suggestion (the whole script, one run each) and scored.
 *
 *   npx tsx bench/lr-suggest.ts [--seeds 5] [--steps 100,40] [--train]
 *
 * Prints markdown tables: each search's suggestions and time; across seeds, each rule's geometric
 * mean and the ratio of its largest to its smallest suggestion (1.0: the same rate every time); with
 * --train, validation and test accuracy by rule.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile } from '../src/compile.ts';
import { findLearningRate } from '../src/executor/lr-find.ts';
import { runPlan } from '../src/executor/run.ts';
import type { LrPoint } from '../src/executor/events.ts';
import { setPhaseRate } from '../src/format/set-rate.ts';
import { numberOption } from './args.ts';

const seeds = numberOption('seeds', 5);
const lengths = (process.argv.find((a, i) => process.argv[i - 1] === '--steps') ?? '100,40').split(',').map(Number);
const train = process.argv.includes('--train');
const examples = join(import.meta.dirname, '..', 'examples');
const script = readFileSync(join(examples, 'auto-rate.tl'), 'utf8').replace(/^export .*$/m, '');

/** fastai's valley (2021): the longest run of falling smoothed loss (not necessarily step by step), and the rate halfway along it. */
function valley(points: readonly LrPoint[]): number | null {
  const loss = points.map((p) => p.smoothed).filter(Number.isFinite);
  if (loss.length < 3) return null;
  const run = loss.map(() => 1);
  let end = 0;
  for (let i = 1; i < loss.length; i++) {
    for (let j = 0; j < i; j++) if (loss[i]! < loss[j]! && run[i]! < run[j]! + 1) run[i] = run[j]! + 1;
    if (run[i]! > run[end]!) end = i;
  }
  const start = end - run[end]! + 1;
  return points[start + Math.floor((end - start) / 2)]!.lr;
}

type Rule = 'steepest' | 'valley' | 'tenth of min';
const RULES: readonly Rule[] = ['steepest', 'valley', 'tenth of min'];
const found: { seed: number; steps: number; rates: Record<Rule, number | null>; seconds: number }[] = [];
const fmt = (x: number | null) => (x === null ? '-' : x.toExponential(2));

for (let seed = 1; seed <= seeds; seed++) {
  const { plan } = compile(`${script}\nseed ${seed}\n`);
  for (const steps of lengths) {
    const t = performance.now();
    const r = await findLearningRate(plan!, { baseDir: examples, phase: 'finetune', steps, backend: 'wasm' });
    const seconds = (performance.now() - t) / 1000;
    found.push({ seed, steps, rates: { steepest: r.steepest, valley: valley(r.points), 'tenth of min': r.tenthOfMinimum }, seconds });
    process.stderr.write(`seed ${seed}, ${steps} steps: ${RULES.map((k) => `${k} ${fmt(found.at(-1)!.rates[k])}`).join(', ')} (${seconds.toFixed(1)} s)\n`);
  }
}

console.log(`Learning-rate search of examples/auto-rate.tl's phase 'finetune' (wasm, ${seeds} seeds)\n`);
console.log(`| seed | steps | ${RULES.join(' | ')} | search s |`);
console.log(`| ---: | ---: | ${RULES.map(() => '---:').join(' | ')} | ---: |`);
for (const f of found) console.log(`| ${f.seed} | ${f.steps} | ${RULES.map((k) => fmt(f.rates[k])).join(' | ')} | ${f.seconds.toFixed(1)} |`);

console.log('\n| steps | rule | geometric mean | largest / smallest |');
console.log('| ---: | --- | ---: | ---: |');
for (const steps of lengths) {
  for (const rule of RULES) {
    const xs = found.filter((f) => f.steps === steps).map((f) => f.rates[rule]).filter((x): x is number => x !== null);
    if (xs.length === 0) continue;
    const mean = Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
    console.log(`| ${steps} | ${rule} | ${mean.toExponential(2)} | ${(Math.max(...xs) / Math.min(...xs)).toFixed(1)} |`);
  }
}

if (train) {
  console.log('\n| seed | steps | rule | lr | val acc | test acc |');
  console.log('| ---: | ---: | --- | ---: | ---: | ---: |');
  for (const f of found) {
    for (const rule of ['steepest', 'valley'] as const) {
      const lr = f.rates[rule];
      if (lr === null) continue;
      const source = setPhaseRate(`${script}\nseed ${f.seed}\n`, 'finetune', lr).source!;
      const { metrics } = await runPlan(compile(source).plan!, { baseDir: examples, runDir: mkdtempSync(join(tmpdir(), 'tl-lr-suggest-')), backend: 'wasm' });
      console.log(`| ${f.seed} | ${f.steps} | ${rule} | ${fmt(lr)} | ${(100 * metrics.valAccuracy!).toFixed(1)}% | ${(100 * metrics.testAccuracy!).toFixed(1)}% |`);
    }
  }
}
