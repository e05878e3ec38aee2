/**
 * Keeps a submitted script's file access inside the server's data root, and its exports inside the
 * job's own folder. Returns the plan with every path made absolute, or diagnostics on the
 * statements that reach out: `..`, absolute paths elsewhere, and symbolic links that lead out (the
 * path itself, any link inside a data folder, and any image a csv manifest names).
 *
 * Checked at submit and again when the job starts, since links can change in between; a data root
 * that untrusted users can write to can still race the second check, so keep it read-only to them.
 */
import { lstat, readdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { error, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { readManifest } from '../executor/data/manifest.ts';
import type { DataFormat, Origin, Plan } from '../plan/schema.ts';

export interface ConfineOptions {
  /** Data, model and weights paths must resolve inside it; relative ones start there. */
  readonly dataRoot: string;
  /** Export paths must resolve inside it; relative ones start there. */
  readonly exportRoot: string;
  /** Entries a data folder may hold before the check gives up (and refuses the script). */
  readonly maxEntries?: number;
}

export interface ConfineResult {
  readonly plan?: Plan;
  readonly diagnostics: readonly Diagnostic[];
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

/** realpath of the longest existing prefix, plus the rest: where the path would land once created. */
async function landing(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await landing(parent), path.slice(parent.length));
  }
}

type Problem = string | null;

class DataRoot {
  private real: string | null = null;

  constructor(
    readonly root: string,
    private readonly maxEntries: number,
  ) {}

  /** Why `path` (as written in the script) escapes the root, or null when it does not. */
  async check(path: string, label: string, format: DataFormat | 'file'): Promise<Problem> {
    const abs = resolve(this.root, path);
    if (!inside(this.root, abs)) {
      return isAbsolute(path)
        ? `${label} path '${path}' is outside the server's data root; use a path inside it (relative paths start at the data root)`
        : `${label} path '${path}' leads outside the server's data root through '..'; use a path inside it (relative paths start at the data root)`;
    }
    this.real ??= await realpath(this.root).catch(() => this.root);
    const real = await landing(abs);
    if (!inside(this.real, real)) return `${label} path '${path}' is a symbolic link (or passes through one) that leads outside the server's data root`;
    if (format === 'folder') return this.scanFolder(real, path, label);
    if (format === 'csv') return this.scanManifest(real, path, label);
    return null;
  }

  /** Looks for links out of the root anywhere below a data folder (images may sit in nested folders). */
  private async scanFolder(dir: string, written: string, label: string): Promise<Problem> {
    const stack = [dir];
    const seen = new Set<string>();
    let entries = 0;
    while (stack.length) {
      const current = stack.pop()!;
      if (seen.has(current)) continue;
      seen.add(current);
      const list = await readdir(current, { withFileTypes: true }).catch(() => []);
      for (const entry of list) {
        if (++entries > this.maxEntries) return `${label} folder '${written}' holds more than ${this.maxEntries} entries, too many to check for links out of the data root; split it`;
        const full = join(current, entry.name);
        if (entry.isDirectory()) stack.push(full);
        else if (entry.isSymbolicLink()) {
          const target = await realpath(full).catch(() => null);
          if (target === null) continue;
          if (!inside(this.real!, target)) return `${label} folder '${written}' contains '${relative(dir, full)}', a symbolic link that leads outside the server's data root`;
          if ((await lstat(target).catch(() => null))?.isDirectory()) stack.push(target);
        }
      }
    }
    return null;
  }

  private async scanManifest(file: string, written: string, label: string): Promise<Problem> {
    // An unreadable or malformed manifest is the executor's to report, with its line numbers.
    const rows = await readManifest(file).catch(() => []);
    for (const row of rows) {
      const real = await landing(row.path);
      if (!inside(this.real!, real)) return `${label} manifest '${written}' line ${row.line} names '${row.path}', which is outside the server's data root`;
    }
    return null;
  }
}

/** Entries a data folder may hold before the check gives up, unless told otherwise. */
const MAX_ENTRIES = 1_000_000;

/**
 * Why data named by itself (the dashboard's "Start from data", a model's evaluation) is out of
 * bounds, or null when it is inside the data root: a folder, and its links; a manifest, and its rows.
 */
export function whyOutsideDataRoot(dataRoot: string, path: string, options: { readonly format?: DataFormat; readonly label?: string; readonly maxEntries?: number } = {}): Promise<string | null> {
  return new DataRoot(resolve(dataRoot), options.maxEntries ?? MAX_ENTRIES).check(path, options.label ?? 'data', options.format ?? 'folder');
}

/** See the module comment. */
export async function confinePlan(plan: Plan, options: ConfineOptions): Promise<ConfineResult> {
  const data = new DataRoot(resolve(options.dataRoot), options.maxEntries ?? MAX_ENTRIES);
  const diagnostics: Diagnostic[] = [];
  const refuse = (origin: Origin, message: string, code = 'path-outside-data-root') => diagnostics.push(error(code, message, { start: origin.start, end: origin.end }));
  const onData = async (path: string, label: string, origin: Origin, format: DataFormat | 'file') => {
    const problem = await data.check(path, label, format);
    if (problem) refuse(origin, problem);
    return resolve(data.root, path);
  };

  let model = plan.model;
  if (model.kind === 'file') model = { ...model, path: await onData(model.path, 'model', model.origin, 'file') };
  if (model.weights.kind === 'file') model = { ...model, weights: { kind: 'file', path: await onData(model.weights.path, 'weights', model.origin, 'file') } };

  let dataSpec = plan.data;
  if (dataSpec) {
    const path = await onData(dataSpec.path, 'data', dataSpec.origin, dataSpec.format);
    const val = dataSpec.val === null ? null : await onData(dataSpec.val, 'val', dataSpec.origin, dataSpec.format);
    dataSpec = { ...dataSpec, path, val };
  }
  const evaluate = plan.evaluate && { ...plan.evaluate, path: await onData(plan.evaluate.path, 'evaluate', plan.evaluate.origin, plan.evaluate.format) };
  const adapt = plan.adapt && { ...plan.adapt, target: await onData(plan.adapt.target, 'adapt target', plan.adapt.origin, 'folder') };

  let exported = plan.export;
  if (exported) {
    const root = resolve(options.exportRoot);
    const abs = resolve(root, exported.path);
    if (isAbsolute(exported.path) || !inside(root, abs)) {
      refuse(exported.origin, `export path '${exported.path}' must stay inside the job's own folder; use a relative path without '..', e.g. export "model"`, 'path-outside-run-dir');
    }
    exported = { ...exported, path: abs };
  }

  if (diagnostics.length) return { diagnostics };
  return { plan: { ...plan, model, data: dataSpec, evaluate, adapt, export: exported }, diagnostics };
}
