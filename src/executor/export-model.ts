/** `export "dir"`: a tfjs Layers model directory plus labels.json, preprocess.json and the plan. */
import { constants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Origin, Plan } from '../plan/schema.ts';
import { ExecutorError } from './errors.ts';
import type { Network } from './network.ts';
import { saveToDirectory } from './zoo/index.ts';

/** Why `dir` cannot take an export, in the user's terms. */
function exportFailure(dir: string, err: unknown, origin: Origin | null): ExecutorError {
  const e = err as NodeJS.ErrnoException;
  const why =
    e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'a file is in the way of the folder'
    : e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' ? 'no permission to write there'
    : e.code === 'ENOSPC' ? 'the disk is full'
    : e.message;
  return new ExecutorError('export-failed', `cannot export to '${dir}': ${why}`, origin, { cause: err });
}

/**
 * Makes the export folder and checks that it can be written, before training, so that a path that
 * cannot take the model fails at once instead of after the training it would lose.
 */
export async function prepareExport(dir: string, origin: Origin | null): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    throw exportFailure(dir, err, origin);
  }
}

export async function exportModel(net: Network, dir: string, plan: Plan, classes: string[]): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await net.full.save(saveToDirectory(dir));
    await writeFile(join(dir, 'labels.json'), `${JSON.stringify(classes, null, 2)}\n`);
    await writeFile(join(dir, 'plan.json'), `${JSON.stringify(plan, null, 2)}\n`);
    await writeFile(join(dir, 'preprocess.json'), `${JSON.stringify({ inputSize: net.base.inputSize, ...net.base.preprocess }, null, 2)}\n`);
  } catch (err) {
    throw exportFailure(dir, err, plan.export?.origin ?? null);
  }
}
