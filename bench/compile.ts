/**
 * Compile speed: scripts of growing size built from the examples' statements, timed end to end
 * (lex, parse, checks, plan). Prints statements per second; it should stay flat (linear time).
 * Then what a small command costs as a process, start to exit (the built CLI: run `npm run build` first).
 * Run: npm run bench:compile
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { compile } from '../src/compile.ts';

const LINES = [
  'phase a{i} unfreeze block4, block3 lr 1e-5',
  'phase p{i} unfreeze block5 lr 1e-4 epochs 2 schedule cosine warmup 1 decay 0.5',
  'phase q{i} lr 3e-5 epochs 1 optimizer sgd momentum 0.9',
  '# a comment line',
  'phase r{i} batch 16 schedule step every 2 gamma 0.5',
];

function script(statements: number): string {
  const out = ['use resnet50 input 224', 'data "images" split 0.2', 'freeze until block4', 'head dense 256 relu dropout 0.5', 'augment flip, rotate 15, zoom 0.1'];
  for (let i = 0; out.length < statements; i++) out.push(LINES[i % LINES.length]!.replace('{i}', String(i)));
  return out.join('\n');
}

const rows: string[][] = [];
for (const n of [100, 1_000, 10_000, 20_000]) {
  const source = script(n);
  compile(source); // warm up the JIT and the parser
  const runs = n >= 10_000 ? 5 : 20;
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    const result = compile(source);
    times.push(performance.now() - t);
    if (!result.plan) throw new Error(`benchmark script failed to compile: ${result.diagnostics[0]?.message}`);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  rows.push([String(n), String(source.length), median.toFixed(1), Math.round(n / (median / 1000)).toLocaleString('en-US')]);
}

function table(header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of body) console.log(line(r));
}
table(['statements', 'bytes', 'median ms', 'statements/s'], rows);

const root = join(import.meta.dirname, '..');
const starts: string[][] = [];
for (const args of [['--version'], ['check', 'examples/quickstart.tl']]) {
  const times: number[] = [];
  for (let r = 0; r < 9; r++) {
    const t = performance.now();
    const p = spawnSync(process.execPath, [join(root, 'bin/tl.js'), ...args], { cwd: root, encoding: 'utf8' });
    times.push(performance.now() - t);
    if (p.status !== 0) throw new Error(`tl ${args.join(' ')} exited ${p.status}: ${p.stderr}`);
  }
  times.sort((a, b) => a - b);
  starts.push([`tl ${args.join(' ')}`, times[4]!.toFixed(0), times[0]!.toFixed(0)]);
}
console.log('');
table(['process', 'median ms', 'fastest ms'], starts);
console.log(`\nnode ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
