/**
 * Compile speed: scripts of growing size built from the examples' statements, timed end to end
 * (lex, parse, checks, plan). Prints statements per second; it should stay flat (linear time).
 * Run: npm run bench:compile
 */
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

const header = ['statements', 'bytes', 'median ms', 'statements/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
console.log(`\nnode ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
