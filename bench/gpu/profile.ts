/**
 * Where the host's time goes in pipelined training steps, on the machine the benchmark runs on: a
 * sampling CPU profile (node:inspector, 100 us) of a few steps of each network, as the executor's
 * loop runs them (each loss read after the next step is queued; since session 14, recorded and
 * replayed, so the profile shows what is left). MobileNetV2's step on the H200 was
 * bound by the host (2026-11-30: 30-50 ms of host time against 29 ms of GPU time), and the host
 * there is not this VM, so the GPU run profiles it there.
 *
 * The bundle is one file, so each sample's source module is found from the bundle's own module
 * comments (esbuild writes `// node_modules/...` or `// src/...` before each module): self time is
 * reported by module and by function. The raw profile is written beside the report for a closer
 * look (`.cpuprofile`, opens in Chrome's DevTools).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { stepRunner } from '../../src/executor/backends/select.ts';
import { classifier, executorLoop } from './models.ts';
import { fmt } from './timing.ts';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface HostProfile {
  readonly model: string;
  readonly steps: number;
  readonly wallMs: number;
  readonly byModule: readonly { name: string; ms: number }[];
  readonly byFunction: readonly { name: string; ms: number }[];
}

/** The module each line of a bundle belongs to, from esbuild's `// path` comments: [first line, path] ascending. */
function modulesOf(file: string | undefined): [number, string][] {
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const starts: [number, string][] = [];
  text.split('\n').forEach((line, i) => {
    const m = /^\/\/ ((?:node_modules|src|bench)\/\S+)$/.exec(line);
    if (m) starts.push([i, m[1]!]);
  });
  return starts;
}

/** A module path shortened to its package (node_modules) or folder (TL's own). */
function packageOf(path: string): string {
  if (path === '') return '(bundle runtime)';
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (m) return m[1]!;
  return path.split('/').slice(0, -1).join('/') || path;
}

/** Self time by module and by function of a profile, the top `top` of each. */
function summarise(profile: CpuProfile, modules: [number, string][], top: number): { byModule: { name: string; ms: number }[]; byFunction: { name: string; ms: number }[] } {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const moduleAt = (line: number): string => {
    let lo = 0;
    let hi = modules.length - 1;
    let found = '';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (modules[mid]![0] <= line) {
        found = modules[mid]![1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  // The profiler's own work (stopping it, under node:inspector's frames) is not the steps'.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const profiler = new Set<number>();
  const mark = (id: number): void => {
    profiler.add(id);
    for (const c of byId.get(id)?.children ?? []) mark(c);
  };
  for (const n of profile.nodes) if (n.callFrame.url.startsWith('node:inspector') && !profiler.has(n.id)) mark(n.id);
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0 || profiler.has(node.id)) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const inBundle = url.endsWith('bench.mjs') && modules.length > 0;
    const module = inBundle ? packageOf(moduleAt(lineNumber)) : url === '' ? functionName || '(native)' : url.replace(/^.*\//, '');
    byModule.set(module, (byModule.get(module) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'} (${inBundle ? moduleAt(lineNumber).replace(/^node_modules\//, '') : module})`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, ms: us / 1000 }));
  return { byModule: sorted(byModule), byFunction: sorted(byFunction) };
}

/**
 * Profiles `steps` steps of the executor's loop on `name` at `size` px and `batch` as `tl run` runs
 * them (models.ts executorLoop: batches from bytes, flip + rotate 15, Adam, pipelined; recorded and
 * replayed where the backend can, so what is left of the host's time); writes the raw profile into
 * `dir` when given.
 */
export async function hostProfile(name: 'resnet50' | 'mobilenetv2', o: { size: number; batch: number; steps: number }, dir: string | undefined): Promise<HostProfile> {
  const classes = 10;
  const model = await classifier(name, o.size, classes);
  const fused = fuseActivationsForTraining(model, { padsIntoConvolutions: true });
  const loop = executorLoop(model, name, classes, o);
  const steps = await stepRunner(tf.getBackend());
  // Past the warm-up and the recording, as the benchmark's executor rows.
  await loop.run(steps, 8);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const t0 = performance.now();
  await loop.run(steps, o.steps);
  const wallMs = performance.now() - t0;
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
  session.disconnect();
  if (dir !== undefined) writeFileSync(`${dir}/host-${name}.cpuprofile`, JSON.stringify(profile));
  steps.dispose();
  loop.dispose();
  fused.restore();
  model.dispose();
  let bundle: string | undefined;
  try {
    bundle = fileURLToPath(import.meta.url);
  } catch {
    bundle = undefined;
  }
  const { byModule, byFunction } = summarise(profile, modulesOf(bundle?.endsWith('.mjs') ? bundle : undefined), 25);
  return { model: name, steps: o.steps, wallMs, byModule, byFunction };
}

/** The profiles as two tables: self time by module, then by function, in ms a step. */
export function hostProfileTables(profiles: readonly HostProfile[]): string {
  const lines: string[] = [];
  for (const p of profiles) {
    const perStep = (ms: number) => fmt(ms / p.steps);
    lines.push('', `${p.model}: ${p.steps} executor steps as \`tl run\` runs them (Adam, flip + rotate 15, pipelined, replayed once recorded), ${fmt(p.wallMs / p.steps)} ms a step of wall time; self time a step by module:`, '', '| module | ms a step |', '| --- | --- |');
    for (const m of p.byModule) lines.push(`| ${m.name} | ${perStep(m.ms)} |`);
    lines.push('', `${p.model}, self time a step by function (the top ${p.byFunction.length}):`, '', '| function (module) | ms a step |', '| --- | --- |');
    for (const f of p.byFunction) lines.push(`| ${f.name.replace(/\|/g, '\\|')} | ${perStep(f.ms)} |`);
  }
  return lines.join('\n');
}
