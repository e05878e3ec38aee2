import { describe, expect, it } from 'vitest';
import { createRng } from '../../../src/executor/augment/rng.ts';

const draw = (seed: number, n: number): number[] => {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => rng.next());
};

describe('createRng', () => {
  it('repeats its sequence for a seed and differs between seeds, even neighbouring ones', () => {
    expect(draw(42, 20)).toEqual(draw(42, 20));
    expect(draw(42, 20)).not.toEqual(draw(43, 20));
    expect(draw(0, 20)).not.toEqual(draw(1, 20));
  });

  it('draws uniforms in [0, 1) with the right mean', () => {
    const xs = draw(1, 20000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((a, b) => a + b) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('draws standard normals', () => {
    const rng = createRng(2);
    const xs = Array.from({ length: 20000 }, () => rng.normal());
    const mean = xs.reduce((a, b) => a + b) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });

  it.each([
    [0.2, 0.2],
    [1, 1],
    [2, 5],
  ])('draws Beta(%d, %d) in [0, 1] with mean a/(a+b)', (a, b) => {
    const rng = createRng(3);
    const xs = Array.from({ length: 20000 }, () => rng.beta(a, b));
    expect(xs.every((x) => x >= 0 && x <= 1)).toBe(true);
    expect(xs.reduce((s, x) => s + x) / xs.length).toBeCloseTo(a / (a + b), 1);
  });

  it('makes permutations', () => {
    const p = Array.from(createRng(4).permutation(50));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(p).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
