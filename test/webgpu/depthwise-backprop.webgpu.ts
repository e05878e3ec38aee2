/** The depthwise convolution gradients against the cpu backend, dilation included; cases in cases/depthwise.ts. */
import { describe, expect, it } from 'vitest';
import { depthwiseCases } from './cases/depthwise.ts';
import { RELATIVE_TOLERANCE, worstError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`depthwise conv2d gradients on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(depthwiseCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    expect(await worstError(c)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
  });
});
