/**
 * `tl init`'s fine-tuning rules, measured on more images than fashion-mini has. Fashion-MNIST (the
 * Debian package dataset-fashion-mnist) is written out as class folders: `train/` with the first N
 * images of each class in the training file, `test/` with the first 100 of each in t10k. For each N,
 * the script `tl init` writes for that folder is run as written and with each other fine-tuning rule
 * in its place (the rest of the script unchanged), on wasm.
 *
 *   npx tsx bench/init-rules.ts [--per-class 100,500] [--test 100] [--idx /usr/share/datasets/fashion-mnist]
 *
 * Prints a markdown table: images a class, the rule (`*`: the one tl init chose), validation and test
 * accuracy, seconds.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { compile } from '../src/compile.ts';
import { readIdx } from '../src/executor/data/idx.ts';
import { surveyData } from '../src/executor/data/survey.ts';
import { runPlan } from '../src/executor/run.ts';
import { FINETUNE, starterScript } from '../src/format/starter.ts';
import { numberOption, option } from './args.ts';

const perClass = option('per-class', '100,500').split(',').map(Number);
const testPerClass = numberOption('test', 100);
const idx = option('idx', '/usr/share/datasets/fashion-mnist');
const NAMES = ['tshirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'];

/** The first `n` images of each class in an IDX file, as PNGs under `dir/<class>/`. */
async function writeClasses(file: string, dir: string, n: number): Promise<void> {
  const { pixels, labels, count, height, width, channels } = await readIdx(join(idx, file));
  const written = NAMES.map(() => 0);
  const bytes = height * width * channels;
  for (let i = 0; i < count && written.some((w) => w < n); i++) {
    const label = labels[i]!;
    if (written[label]! >= n) continue;
    const folder = join(dir, NAMES[label]!);
    mkdirSync(folder, { recursive: true });
    const image = sharp(Buffer.from(pixels.subarray(i * bytes, (i + 1) * bytes)), { raw: { width, height, channels } });
    await image.png().toFile(join(folder, `${String(written[label]!).padStart(5, '0')}.png`));
    written[label]! += 1;
  }
}

const root = mkdtempSync(join(tmpdir(), 'tl-init-rules-'));
const rows: string[] = [];
for (const n of perClass) {
  const dir = join(root, `n${n}`);
  await writeClasses('train-images-idx3-ubyte.gz', join(dir, 'train'), n);
  await writeClasses('t10k-images-idx3-ubyte.gz', join(dir, 'test'), testPerClass);
  const script = starterScript(await surveyData(dir), { name: 'bench' }).replace(/^export .*$/m, '');
  const chosen = /^phase finetune .*?(?=\s+#|$)/m.exec(script)![0];
  for (const [rule, line] of Object.entries(FINETUNE)) {
    const source = script.replace(/^phase finetune .*$/m, line);
    const { plan, diagnostics } = compile(source);
    if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
    const t = performance.now();
    const { metrics } = await runPlan(plan, { baseDir: dir, runDir: mkdtempSync(join(tmpdir(), 'tl-init-rule-')), backend: 'wasm' });
    const seconds = (performance.now() - t) / 1000;
    const row = `| ${n} | ${rule}${line === chosen ? ' *' : ''} | ${(100 * metrics.valAccuracy!).toFixed(1)}% | ${(100 * metrics.testAccuracy!).toFixed(1)}% | ${seconds.toFixed(0)} |`;
    process.stderr.write(`${row}\n`);
    rows.push(row);
  }
}
console.log(`Fashion-MNIST, ${testPerClass} test images a class; the script tl init writes, with each fine-tuning rule (* the one it chose)\n`);
console.log('| train images a class | fine-tuning rule | validation | test | seconds |\n| ---: | --- | ---: | ---: | ---: |');
console.log(rows.join('\n'));
