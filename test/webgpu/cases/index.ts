/** Every parity case of the webgpu suite, by suite: run by the vitest files here and by the GPU benchmark bundle. */
import type { ParityCase } from '../parity.ts';
import { activationCases } from './activations.ts';
import { augmentCases } from './augment.ts';
import { batchNormCases } from './batchnorm.ts';
import { conv2dCases } from './conv2d.ts';
import { depthwiseCases } from './depthwise.ts';
import { reductionCases } from './reductions.ts';

export const PARITY_SUITES: Readonly<Record<string, () => ParityCase[]>> = {
  'conv2d, forward and gradients': conv2dCases,
  'depthwise gradients': depthwiseCases,
  'Sum and Mean': reductionCases,
  'BatchNorm gradient': batchNormCases,
  'activation gradients': activationCases,
  augmentations: augmentCases,
};
