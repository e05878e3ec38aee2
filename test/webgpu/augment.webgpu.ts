/** The augmentation resampler on webgpu against the portable one on cpu; cases in cases/augment.ts. */
import { describe, expect, it } from 'vitest';
import { AUGMENT_TOLERANCE, augmentCases } from './cases/augment.ts';
import { worstError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`augmentation resampler on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(augmentCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    expect(await worstError(c)).toBeLessThanOrEqual(AUGMENT_TOLERANCE);
  });
});
