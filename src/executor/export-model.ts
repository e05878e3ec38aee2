/** `export "dir"`: a tfjs Layers model directory plus labels.json, preprocess.json and the plan. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Origin, Plan } from '../plan/schema.ts';
import { ExecutorError } from './errors.ts';
import { prepareWritable, whyNotWritable } from './make-directory.ts';
import type { Network } from './network.ts';
import { saveToDirectory } from './zoo/index.ts';

function exportFailure(dir: string, err: unknown, origin: Origin | null): ExecutorError {
  return new ExecutorError('export-failed', `cannot export to '${dir}': ${whyNotWritable(err)}`, origin, { cause: err });
}

/**
 * Makes the export folder and checks that it can be written, before training, so that a path that
 * cannot take the model fails at once instead of after the training it would lose.
 */
export function prepareExport(dir: string, origin: Origin | null): void {
  try {
    prepareWritable(dir);
  } catch (err) {
    throw exportFailure(dir, err, origin);
  }
}

export async function exportModel(net: Network, dir: string, plan: Plan, classes: string[]): Promise<void> {
  try {
    await net.full.save(saveToDirectory(dir)); // makes the folder, even if it went during training
    await writeFile(join(dir, 'labels.json'), `${JSON.stringify(classes, null, 2)}\n`);
    await writeFile(join(dir, 'plan.json'), `${JSON.stringify(plan, null, 2)}\n`);
    await writeFile(join(dir, 'preprocess.json'), `${JSON.stringify({ inputSize: net.base.inputSize, ...net.base.preprocess }, null, 2)}\n`);
  } catch (err) {
    throw exportFailure(dir, err, plan.export?.origin ?? null);
  }
}
