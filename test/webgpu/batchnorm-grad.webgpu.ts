/** The fused training-mode BatchNorm gradient against the cpu backend; cases in cases/batchnorm.ts. */
import { describe, expect, it } from 'vitest';
import { batchNormCases } from './cases/batchnorm.ts';
import { RELATIVE_TOLERANCE, worstError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`BatchNorm gradient on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(batchNormCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    expect(await worstError(c)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
  });
});
