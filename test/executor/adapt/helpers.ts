/** Shared fixtures for the adaptation tests: shifted copies of the bundled fashion-mini images, and a run helper. */
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { compile } from '../../../src/compile.ts';
import type { ExecutorEvent } from '../../../src/executor/events.ts';
import { runPlan, type RunResult } from '../../../src/executor/run.ts';
import type { Plan } from '../../../src/plan/schema.ts';

export const root = join(import.meta.dirname, '..', '..', '..');
export const fashionMini = join(root, 'examples/data/fashion-mini');

/** Writes a class-per-folder copy of `from` with `shift` applied to every image (first `perClass` of each class). */
export async function shiftedCopy(from: string, to: string, shift: (image: Sharp) => Sharp, perClass = Infinity): Promise<string> {
  for (const cls of (await readdir(from)).sort()) {
    await mkdir(join(to, cls), { recursive: true });
    const files = (await readdir(join(from, cls))).sort().slice(0, perClass);
    await Promise.all(files.map((f) => shift(sharp(join(from, cls, f))).png().toFile(join(to, cls, f))));
  }
  return to;
}

/** Low contrast and brighter: an affine intensity shift that BatchNorm statistics can undo. */
export const washedOut = (image: Sharp) => image.linear(0.4, 120);
export const inverted = (image: Sharp) => image.negate({ alpha: false });

export function tempDir(prefix = 'tl-adapt-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function planOf(source: string): Plan {
  const { plan, diagnostics } = compile(source);
  if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
  return plan;
}

export async function run(plan: Plan, runDir: string, onEvent: (e: ExecutorEvent) => void = () => {}): Promise<RunResult & { events: ExecutorEvent[] }> {
  const events: ExecutorEvent[] = [];
  const result = await runPlan(plan, { baseDir: root, runDir, backend: 'wasm', onEvent: (e) => (events.push(e), onEvent(e)) });
  return { ...result, events };
}

export function epochs(events: readonly ExecutorEvent[]) {
  return events.filter((e): e is Extract<ExecutorEvent, { type: 'epochEnded' }> => e.type === 'epochEnded');
}
