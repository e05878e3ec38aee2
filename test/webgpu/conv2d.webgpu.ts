/** Conv2D, FusedConv2D, Conv2DBackpropFilter and Conv2DBackpropInput (implicit GEMM) against the cpu backend; cases in cases/conv2d.ts. */
import { describe, expect, it } from 'vitest';
import { conv2dCases } from './cases/conv2d.ts';
import { RELATIVE_TOLERANCE, worstError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`conv2d forward and gradients on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(conv2dCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    expect(await worstError(c)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
  });
});
