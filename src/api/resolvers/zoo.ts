/** The model zoo, from the compiler's catalog; `availableWeights` looks at this server's weights cache. */
import { existsSync } from 'node:fs';
import { defaultCacheDir, isDownloadable, knownWeightsPath } from '../../executor/zoo/known-weights.ts';
import { BLOCKS, type ZooEntry } from '../../zoo/catalog.ts';
import type { Resolvers, WeightsSource } from '../generated/schema-types.ts';

function imagenetHere(m: ZooEntry): boolean {
  if (m.imagenet === 'bundled') return true;
  return m.imagenet === 'download' && isDownloadable(m.name) && existsSync(knownWeightsPath(m.name, defaultCacheDir()));
}

export const zooResolvers = {
  ZooModel: {
    blocks: (m) => BLOCKS.map((name, i) => ({ name, lastLayer: m.blockEnds[i]! })),
    layerCount: (m) => m.layers.length,
    imagenet: (m) => m.imagenet.toUpperCase() as WeightsSource,
    availableWeights: (m) => [...(imagenetHere(m) ? ['imagenet'] : []), 'none', 'file'],
  },
} satisfies Pick<Resolvers, 'ZooModel'>;
