/** The augmentations that run on the GPU under webgpu against their portable versions on cpu; cases in cases/augment.ts. */
import { describe, expect, it } from 'vitest';
import { AUGMENT_TOLERANCE, augmentCases, cutmixCases } from './cases/augment.ts';
import { worstError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`augmentations on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  const exact = new Set(cutmixCases().map((c) => c.name));
  it.each(augmentCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    expect(await worstError(c)).toBeLessThanOrEqual(exact.has(c.name) ? 0 : AUGMENT_TOLERANCE);
  });
});
