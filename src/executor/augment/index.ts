export { augmentBatch, type AugmentOptions } from './augment-batch.ts';
export { createRng, type Rng, type RngState } from './rng.ts';
export type { ValueRange } from './photometric.ts';
export { compose, drawAffine, rotation, IDENTITY, type Affine } from './affine.ts';
export { sampleAffine } from './sampler.ts';
