/** `export "dir"`: a tfjs Layers model directory plus labels.json, preprocess.json and the plan. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Plan } from '../plan/schema.ts';
import type { Network } from './network.ts';
import { saveToDirectory } from './zoo/index.ts';

export async function exportModel(net: Network, dir: string, plan: Plan, classes: string[]): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  await net.full.save(saveToDirectory(dir));
  await writeFile(join(dir, 'labels.json'), `${JSON.stringify(classes, null, 2)}\n`);
  await writeFile(join(dir, 'plan.json'), `${JSON.stringify(plan, null, 2)}\n`);
  await writeFile(join(dir, 'preprocess.json'), `${JSON.stringify({ inputSize: net.base.inputSize, ...net.base.preprocess }, null, 2)}\n`);
}
