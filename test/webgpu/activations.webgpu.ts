/** Gradients of relu, relu6 and clipByValue against the cpu backend; cases in cases/activations.ts. */
import { describe, expect, it } from 'vitest';
import { activationCases } from './cases/activations.ts';
import { RELATIVE_TOLERANCE, worstError } from './parity.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`activation gradients on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(activationCases().map((c) => [c.name, c] as const))('%s', async (_, c) => {
    expect(await worstError(c)).toBeLessThanOrEqual(RELATIVE_TOLERANCE);
  });
});
