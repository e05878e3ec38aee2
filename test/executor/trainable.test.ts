import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { assemble } from '../../src/executor/network.ts';
import { applyPhase } from '../../src/executor/trainable.ts';
import { buildBase } from '../../src/executor/zoo/build-base.ts';

/** The phase's variables by learning-rate factor, each named by its layer. */
async function factorsOf(source: string, phase: number): Promise<Record<string, string[]>> {
  const { plan, diagnostics } = compile(source);
  if (!plan) throw new Error(diagnostics.map((d) => d.message).join('; '));
  const net = assemble(await buildBase(plan.model, { baseDir: '.' }), plan, 3);
  try {
    const { groups } = applyPhase(net, plan.phases[phase]!);
    const layers = (names: string[]) => [...new Set(names.map((n) => n.split('/')[0]!))].sort();
    return Object.fromEntries(groups.map((g) => [String(g.factor), layers(g.variables.map((v) => v.name))]));
  } finally {
    net.full.dispose();
  }
}

describe('applyPhase: learning-rate factors', () => {
  it('gives a block, one of its layers and the head their own rates, the rest the phase rate', async () => {
    const factors = await factorsOf('use tiny; data "d"; freeze none; lr 1e-3; lr block4 1e-4; lr "block5_conv" 5e-4; lr head 2e-3', 0);
    expect(factors).toEqual({
      '1': ['block1_bn', 'block1_conv', 'block2_bn', 'block2_conv', 'block3_bn', 'block3_conv', 'block5_bn'],
      '0.1': ['block4_bn', 'block4_conv'],
      '0.5': ['block5_conv'],
      '2': ['head_out'],
    });
  });

  it('applies decay by block, a layer named in unfreeze taking the lowest factor', async () => {
    const factors = await factorsOf('use tiny weights none; data "d"; freeze all\nphase unfreeze block5, "block4_conv" decay 0.5', 1);
    expect(factors).toEqual({ '1': ['head_out'], '0.5': ['block4_conv', 'block5_bn', 'block5_conv'] });
  });
});
