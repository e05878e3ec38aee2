/**
 * Dashboard load with a long job (npm run bench:dashboard): a finished job with 10,000 batchProgress
 * events (100 epochs x 100 batches) is written into a real SQLite file, `tl serve` serves it, and
 * Debian's chromium opens the job page. Prints how long until the page showed every event and the
 * confusion matrix, and the main thread's long tasks (responsiveness) while it did.
 * Needs the built bundle (npm run build) and /usr/bin/chromium.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { compile } from '../src/compile.ts';
import type { ExecutorEvent } from '../src/executor/events.ts';
import { openDatabase } from '../src/service/db.ts';
import { JobStore } from '../src/service/job-store.ts';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'tl-dash-bench-'));
const dbFile = join(dir, 'tl.db');
const EPOCHS = 100;
const BATCHES = 100;

const source = `use tiny input 32\ndata "data/fashion-mini/train" split 0.2\nfreeze none\nepochs ${EPOCHS}\nbatch 4\n`;
const plan = compile(source).plan!;
const classes = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
const db = openDatabase(dbFile);
const store = new JobStore(db);
const id = 'bench-10k';
const t = (i: number) => new Date(Date.UTC(2026, 10, 28) + i * 100).toISOString();
store.insert({ id, name: 'ten thousand batches', source, plan, createdAt: t(0) });
store.setStatus(id, 'RUNNING', { startedAt: t(0), attempts: 1 });
let i = 0;
const append = (e: ExecutorEvent) => store.append(id, 1, e);
store.transaction(() => {
  append({ type: 'jobStarted', at: t(i++), backend: 'wasm', backendReason: 'bench', model: 'tiny', classes, trainImages: 400, valImages: 100, phases: [{ name: 'warmup', epochs: EPOCHS }] });
  append({ type: 'phaseStarted', at: t(i++), phase: 0, name: 'warmup', epochs: EPOCHS, trainable: ['block1', 'block2', 'block3', 'block4', 'block5', 'head'], trainableParams: 34578, lr: 1e-3, cachedFeatures: false, cachedAt: null });
  for (let e = 1; e <= EPOCHS; e++) {
    for (let b = 1; b <= BATCHES; b++) append({ type: 'batchProgress', at: t(i++), phase: 0, epoch: e, batch: b, batches: BATCHES, loss: 2.3 / (1 + 0.05 * (e + b / BATCHES)), lr: 1e-3 });
    const acc = 1 - 0.9 / (1 + 0.1 * e);
    append({ type: 'epochEnded', at: t(i++), phase: 0, epoch: e, epochs: EPOCHS, metrics: { loss: 2.3 / (1 + 0.05 * e), accuracy: acc, valLoss: 2.4 / (1 + 0.04 * e), valAccuracy: acc - 0.05, valTop5: null }, imagesPerSecond: 100, seconds: 4, etaSeconds: 4 * (EPOCHS - e) });
  }
  append({ type: 'phaseEnded', at: t(i++), phase: 0, name: 'warmup', epochsRun: EPOCHS, stoppedEarly: false, best: null, replay: null, tiles: null });
  const confusion = classes.map((_, r) => classes.map((__, c) => (r === c ? 8 : r + c === 9 ? 2 : 0)));
  append({
    type: 'jobFinished', at: t(i++), exportPath: null, seconds: 400,
    metrics: { loss: 0.5, accuracy: 0.9, valLoss: 0.6, valAccuracy: 0.8, valTop5: null, testAccuracy: null, testTop5: null, classes, confusion, perClass: classes.map((label) => ({ label, precision: 0.8, recall: 0.8, support: 10 })) },
  });
});
store.setStatus(id, 'SUCCEEDED', { finishedAt: t(i) });
db.close();
console.log(`wrote ${i} events for job ${id}`);

const server = spawn(process.execPath, [join(root, 'bin/tl.js'), 'serve', '--port', '0', '--db', dbFile, '--data-root', join(root, 'examples'), '--runs', join(dir, 'runs')], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = /listening on (http:\/\/[^/\s]+)/.exec(out);
    if (m) resolve(m[1]!);
  });
  server.on('exit', (code) => reject(new Error(`tl serve exited with ${code}`)));
});

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
const rows: string[][] = [];
try {
  for (let run = 1; run <= 3; run++) {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      const w = window as unknown as { __long: number[] };
      w.__long = [];
      new PerformanceObserver((list) => list.getEntries().forEach((e) => w.__long.push(e.duration))).observe({ type: 'longtask', buffered: true });
    });
    const start = Date.now();
    await page.goto(`${url}/jobs/${id}`);
    const dcl = Date.now() - start;
    await page.getByText('Confusion matrix').first().waitFor({ timeout: 60_000 });
    const shown = Date.now() - start;
    const long = await page.evaluate(() => (window as unknown as { __long: number[] }).__long);
    const blocking = long.reduce((a, d) => a + Math.max(0, d - 50), 0);
    rows.push([String(run), String(dcl), String(shown), String(long.length), long.length ? Math.max(...long).toFixed(0) : '0', blocking.toFixed(0)]);
    await page.close();
  }
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
const header = ['run', 'page loaded ms', `all ${i} events shown ms`, 'long tasks', 'longest ms', 'blocking ms (>50 ms parts)'];
console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
