/**
 * `npm run results`: the evidence in docs/results.md, on real data only, every experiment a .tl
 * script compiled and run through runPlan (wasm backend, tiny CNN at 32 px).
 *
 *   tsx scripts/results/run.ts [--seeds N] [--only transfer|shift] [--report]
 *
 * Data and scripts go under .tl-cache/results/; per-experiment results as JSON there, and
 * docs/results.md is rewritten from whatever JSON exists (so two halves can run in parallel and
 * `--report` merges them).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { compile } from '../../src/compile.ts';
import { runPlan } from '../../src/executor/run.ts';
import { FASHION_CLASSES, fashionMnist, identity, invert, mnist, optdigits, permutation, photos, rotate, takePerClass, textured, writeFolder } from './datasets.ts';
import { writeReport, type Row, type Table } from './report.ts';

const root = join(import.meta.dirname, '..', '..');
const cache = join(root, '.tl-cache', 'results');
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const SEEDS = Array.from({ length: Number(flag('--seeds') ?? 3) }, (_, i) => i + 1);
const only = flag('--only');
/** `--quick`: the domain-shift half on half the target images (a smoke run; docs/results.md says when a table is one). */
const QUICK = args.includes('--quick');
/** The domain-shift half's sizes: MNIST digits for the source, and per MNIST-derived target. */
const DIGIT_SIZES = QUICK ? { source: 1000, unlabelled: 500, test: 500, epochs: 3 } : { source: 1000, unlabelled: 1000, test: 1000, epochs: 3 };
/** `--shifts a,b`: only these targets (inverted, rotated, textured, optdigits). */
const SHIFTS = flag('--shifts')?.split(',') ?? null;
/** The command that made a table, as docs/results.md quotes it. */
const command = `npm run results${args.length ? ` -- ${args.join(' ')}` : ''}`;

/** Writes the rows so far, so an interrupted run still leaves a table. */
async function save(table: Table): Promise<void> {
  await writeFile(join(cache, `${table.id}.json`), `${JSON.stringify(table, null, 2)}\n`);
}
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

async function runScript(name: string, source: string): Promise<{ testAccuracy: number; valAccuracy: number; seconds: number; backend: string }> {
  const dir = join(cache, 'scripts');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${name}.tl`), source);
  const { plan, diagnostics } = compile(source);
  if (!plan) throw new Error(`${name}: ${diagnostics.map((d) => d.message).join('; ')}`);
  let backend = '';
  const t0 = performance.now();
  const { metrics } = await runPlan(plan, {
    baseDir: dir, runDir: join(cache, 'runs', name), backend: 'wasm',
    onEvent: (e) => {
      if (e.type === 'jobStarted') backend = e.backend;
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  console.log(`${name}: validation ${metrics.valAccuracy?.toFixed(3)}, test ${metrics.testAccuracy?.toFixed(3)} (${seconds.toFixed(0)} s)`);
  return { testAccuracy: metrics.testAccuracy ?? Number.NaN, valAccuracy: metrics.valAccuracy ?? Number.NaN, seconds, backend };
}

/** The learning rates each transfer recipe is tried at; the one with the best validation accuracy is reported. */
const LRS = [3e-3, 1e-2, 3e-2, 1e-1];

/** (1) Fashion-MNIST 0-4 -> 5-9 with few labels: scratch, frozen base + head, two-phase unfreeze, discriminative rates. */
async function transfer(): Promise<Table> {
  const started = performance.now();
  const train = await fashionMnist('train');
  const test = await fashionMnist('t10k');
  const order = permutation(train.labels.length, 7);
  const data = join(cache, 'data', 'fashion');
  const sourceDir = await writeFolder(join(data, 'source-1000'), train, takePerClass(train, order, [0, 1, 2, 3, 4], 1000), FASHION_CLASSES, identity);
  // Target labels come from the far end of the permutation: disjoint from the source (other classes anyway) and from val.
  const late = [...order].reverse();
  const valDir = await writeFolder(join(data, 'val'), train, takePerClass(train, order, [5, 6, 7, 8, 9], 20), FASHION_CLASSES, identity);
  const testDir = await writeFolder(join(data, 'test'), test, takePerClass(test, permutation(test.labels.length, 8), [5, 6, 7, 8, 9], 200), FASHION_CLASSES, identity);

  const rows: Row[] = [];
  const backends = new Set<string>();
  const table = (): Table => ({ id: 'transfer', rows, backend: [...backends].join(', '), seconds: (performance.now() - started) / 1000, command, lrs: LRS });
  for (const seed of SEEDS) {
    const sourceModel = join(cache, 'models', `fashion-source-${seed}`);
    // Always retrained: a cached source model would silently carry results from older executor code.
    {
      const r = await runScript(`fashion-source-s${seed}`, `# The source task: Fashion-MNIST classes 0-4, 1,000 images each, from scratch.
use tiny input 32
data "${sourceDir}" split 0.1
freeze none
epochs 5
batch 32
lr 3e-3
seed ${seed}
export "${sourceModel}"
`);
      backends.add(r.backend);
    }
    for (const k of [10, 50, 250]) {
      const trainDir = await writeFolder(join(data, `target-${k}`), train, takePerClass(train, late, [5, 6, 7, 8, 9], k), FASHION_CLASSES, identity);
      // About the same number of steps whatever the label count, so small sets are not under-trained.
      const epochs = k === 10 ? 30 : k === 50 ? 12 : 6;
      const half = epochs / 2;
      const common = `data "${trainDir}" val "${valDir}"\nbatch 16\nseed ${seed}\nevaluate "${testDir}"`;
      const variants: Record<string, (lr: number) => string> = {
        scratch: (lr) => `use tiny input 32\n${common}\nfreeze none\nepochs ${epochs}\nlr ${lr}`,
        'frozen base + head': (lr) => `use "${sourceModel}/model.json"\n${common}\nfreeze all\nepochs ${epochs}\nlr ${lr}`,
        'two-phase unfreeze': (lr) => `use "${sourceModel}/model.json"\n${common}\nfreeze all\nepochs ${half}\nlr ${lr}\nphase finetune unfreeze block4, block5 lr ${lr / 10} epochs ${half}`,
        'discriminative rates': (lr) => `use "${sourceModel}/model.json"\n${common}\nfreeze all\nepochs ${half}\nlr ${lr}\nphase finetune unfreeze all decay 0.3 lr ${lr / 3} epochs ${half}`,
        // A base pretrained on photos rather than on the source task: MobileNetV2 (nsfwjs's weights) to block4, at 96 px.
        'MobileNetV2 (photos) + head': (lr) => `use mobilenetv2 input 96 cut block4\n${common}\nfreeze all\nepochs ${epochs}\nlr ${lr}`,
      };
      for (const [method, script] of Object.entries(variants)) {
        // Model selection on the validation set only: the test set is read once per run and never compared.
        let best: { lr: number; val: number; test: number } | null = null;
        let seconds = 0;
        for (const lr of LRS) {
          const r = await runScript(`fashion-${k}-${method.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-lr${lr}-s${seed}`, `# Fashion-MNIST 5-9 with ${k} labels a class: ${method}.\n${script(lr)}\n`);
          backends.add(r.backend);
          seconds += r.seconds;
          if (!best || r.valAccuracy > best.val) best = { lr, val: r.valAccuracy, test: r.testAccuracy };
        }
        rows.push({ group: `${k} labels/class`, method, seed, accuracy: best!.test, seconds, lr: best!.lr });
        await save(table());
      }
    }
  }
  return table();
}

/** (2) Domain shift with a shared label space: MNIST -> {inverted, rotated, textured, optdigits}; source-only vs each adapt method. */
async function shift(): Promise<Table> {
  const started = performance.now();
  const digits = mnist();
  const data = join(cache, 'data', 'digits');
  const n = digits.labels.length;
  const all = Array.from({ length: n }, (_, i) => i);
  // Disjoint digits: the source from the start, unlabelled target from 5,000, target test from 8,000.
  const source = all.slice(0, DIGIT_SIZES.source);
  const unlabelled = all.slice(5000, 5000 + DIGIT_SIZES.unlabelled);
  const held = all.slice(8000, 8000 + DIGIT_SIZES.test);
  const tag = QUICK ? '-quick' : '';
  const sourceDir = await writeFolder(join(data, `mnist${tag}`), digits, source, DIGITS, identity);
  const opt = await optdigits(join(cache, 'deb'));
  const optOrder = permutation(opt.labels.length, 3);
  const textures = textured(await photos(join(cache, 'deb')));
  const targets: { name: string; unlabelled: string; test: string }[] = [];
  for (const [name, fn] of [['inverted', invert], ['rotated 30-60°', rotate], ['textured (MNIST-M-like)', textures]] as const) {
    const slug = name.split(' ')[0]!;
    targets.push({
      name,
      unlabelled: await writeFolder(join(data, `${slug}-unlabelled${tag}`), digits, unlabelled, DIGITS, fn, true),
      test: await writeFolder(join(data, `${slug}-test${tag}`), digits, held, DIGITS, fn),
    });
  }
  targets.push({
    name: 'optdigits (UCI scans)',
    unlabelled: await writeFolder(join(data, 'optdigits-unlabelled'), opt, optOrder.slice(0, 897), DIGITS, identity, true),
    test: await writeFolder(join(data, 'optdigits-test'), opt, optOrder.slice(897), DIGITS, identity),
  });

  const methods: Record<string, (target: string) => string> = {
    'source only': () => '',
    adabn: (t) => `adapt adabn target "${t}"`,
    'coral (weight 100)': (t) => `adapt coral weight 100 target "${t}"`,
    'dann (weight 0.3)': (t) => `adapt dann weight 0.3 target "${t}"`,
    'pseudolabel (0.9, 2 rounds)': (t) => `adapt pseudolabel threshold 0.9 rounds 2 target "${t}"`,
  };
  const rows: Row[] = [];
  const backends = new Set<string>();
  const table = (): Table => ({ id: 'shift', rows, backend: [...backends].join(', '), seconds: (performance.now() - started) / 1000, command, sizes: DIGIT_SIZES });
  for (const seed of SEEDS) {
    for (const t of targets) {
      if (SHIFTS && !SHIFTS.includes(t.name.split(' ')[0]!)) continue;
      for (const [method, adapt] of Object.entries(methods)) {
        const name = `digits-${t.name.split(' ')[0]}-${method.split(' ')[0]}-s${seed}`;
        const r = await runScript(name, `# MNIST -> ${t.name}: ${method}.
use tiny input 32
data "${sourceDir}" split 0.1
freeze none
epochs ${DIGIT_SIZES.epochs}
batch 32
lr 3e-3
seed ${seed}
${adapt(t.unlabelled)}
evaluate "${t.test}"
`);
        backends.add(r.backend);
        rows.push({ group: t.name, method, seed, accuracy: r.testAccuracy, seconds: r.seconds });
        await save(table());
      }
    }
  }
  return table();
}

async function main(): Promise<void> {
  await mkdir(cache, { recursive: true });
  if (!args.includes('--report')) {
    for (const [id, experiment] of [['transfer', transfer], ['shift', shift]] as const) {
      if (only && only !== id) continue;
      await save(await experiment());
    }
  }
  const tables: Table[] = [];
  for (const id of ['transfer', 'shift']) {
    const file = join(cache, `${id}.json`);
    if (existsSync(file)) tables.push(JSON.parse(await readFile(file, 'utf8')) as Table);
  }
  await writeReport(join(root, 'docs', 'results.md'), tables, { cpus: cpus().length, node: process.version });
  console.log('wrote docs/results.md');
}

await main();
