/**
 * Writes src/zoo/layers.generated.json: every zoo model's base layer names in model order (input
 * excluded, up to the catalog's block5 end), taken from the executor's own builders so the compiler's
 * catalog and the networks that run cannot disagree.
 *
 *   npx tsx scripts/gen-zoo-layers.ts          # regenerate
 *   npx tsx scripts/gen-zoo-layers.ts --check  # exit 1 when the file is stale
 */
import * as tf from '@tensorflow/tfjs';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { baseLayerNames, buildNetwork } from '../src/executor/zoo/networks.ts';
import { ZOO } from '../src/zoo/catalog.ts';

const target = fileURLToPath(new URL('../src/zoo/layers.generated.json', import.meta.url));

async function generate(): Promise<string> {
  await tf.setBackend('cpu');
  const lists: Record<string, string[]> = {};
  for (const entry of ZOO) {
    // Layer names do not depend on the input size: build at the smallest one, it is the fastest.
    const model = await buildNetwork(entry.name, entry.minInput);
    const names = baseLayerNames(model);
    model.dispose();
    const end = names.indexOf(entry.blockEnds[4]);
    if (end < 0) throw new Error(`${entry.name}: the builder has no layer '${entry.blockEnds[4]}' (catalog block5 end)`);
    lists[entry.name] = names.slice(0, end + 1);
  }
  return `${JSON.stringify(lists, null, 2)}\n`;
}

const text = await generate();
if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== text) {
    console.error(`${target} is stale: run npx tsx scripts/gen-zoo-layers.ts`);
    process.exit(1);
  }
  console.log(`${target} is up to date`);
} else {
  await writeFile(target, text);
  console.log(`wrote ${target}`);
}
