/**
 * How the GEMM tuner times its options (src/executor/backends/webgpu/tune.ts), against a model of
 * a GPU: every chain of runs pays a fixed cost once (queuing, the submit, a value read back), and
 * the device's clock rises under load, so early runs take longer. Plain arithmetic on the chains'
 * times, so tested here on any machine; the tuner itself runs on webgpu in tune.webgpu.ts.
 */
import { describe, expect, it } from 'vitest';
import { runsFor, slope, timeOptions, type Chain } from '../../src/executor/backends/webgpu/tune.ts';

/**
 * A device whose chains take `fixedMs` plus their runs, each run `ms` times a clock factor that
 * starts at `slowdown` and falls linearly to 1 over the first `rampMs` of work.
 */
function device(fixedMs: number, slowdown = 1, rampMs = 1) {
  let worked = 0;
  return (ms: number): Chain =>
    async (n) => {
      let total = fixedMs;
      for (let i = 0; i < n; i++) {
        const factor = 1 + (slowdown - 1) * Math.max(0, 1 - worked / rampMs);
        total += ms * factor;
        worked += ms * factor;
      }
      return total;
    };
}

describe('the tuner\'s timing', () => {
  it('leaves out the fixed cost every chain pays, which one chain over its runs counts in', async () => {
    const chain = device(1.5)(0.07);
    const n = await runsFor(chain, 3, 64);
    expect(n).toBe(64);
    expect(await slope(chain, n)).toBeCloseTo(0.07, 10);
    // What dividing one chain by its runs gives: the fixed cost spread over them.
    expect((await chain(n)) / n).toBeGreaterThan(0.09);
  });

  it('doubles the runs only until their difference is worth timing', async () => {
    expect(await runsFor(device(1.5)(4), 3, 64)).toBe(1);
    expect(await runsFor(device(1.5)(1), 3, 64)).toBe(4);
    expect(await runsFor(device(1.5)(0.001), 3, 16)).toBe(16);
  });

  it('finds a 10% faster option 10% faster while the clock still drifts, whichever is timed first', async () => {
    // The clock 1.5x slow at first, at full speed after 400 ms of work (the tuner warms the GPU up
    // before timing, so the steep part of the rise is over by then).
    for (const order of [[0.3, 0.27], [0.27, 0.3]]) {
      const ms = await timeOptions(order, device(1.5, 1.5, 400));
      expect(ms.get(0.27)! / ms.get(0.3)!).toBeGreaterThan(0.88);
      expect(ms.get(0.27)! / ms.get(0.3)!).toBeLessThan(0.92);
    }
  });

  it('takes the median of its rounds, leaving out a round that noise made negative, so one spoiled round moves nothing', async () => {
    // In call order: the compile, the search's pair (2 runs, then 1), then each round's pair.
    const times = [9, 10, 5, 2.5, 2.0, 1.0, 3.0, 2.6, 2.0];
    let call = 0;
    const ms = await timeOptions(['only'], () => async () => times[call++]!);
    expect(call).toBe(times.length);
    expect(ms.get('only')).toBeCloseTo((0.5 + 0.6) / 2, 10);
    // Three rounds, one of them spoiled by a pause: 0.5, 5 and 0.6 ms a run.
    const spoiled = [9, 10, 5, 2.5, 2.0, 7.0, 2.0, 2.6, 2.0];
    call = 0;
    expect((await timeOptions(['only'], () => async () => spoiled[call++]!)).get('only')).toBeCloseTo(0.6, 10);
    expect(await slope(async (n) => (n === 2 ? 1 : 3), 1)).toBeNaN();
  });

  it('times an option over twice the fastest in the first round no further, and keeps the close calls to the end', async () => {
    const chainOf = device(1.5);
    const calls = new Map<number, number>();
    const counted = (ms: number): Chain => {
      const chain = chainOf(ms);
      return async (n) => {
        calls.set(ms, (calls.get(ms) ?? 0) + 1);
        return chain(n);
      };
    };
    const ms = await timeOptions([0.15, 0.1, 0.25], counted);
    // Each: the compile, then a pair of chains a round it runs in; the first option also finds the runs (32 here, 6 pairs).
    expect(calls.get(0.1)).toBe(1 + 2 * 3);
    expect(calls.get(0.15)).toBe(1 + 2 * 6 + 2 * 3);
    expect(calls.get(0.25)).toBe(1 + 2 * 1);
    expect(ms.get(0.1)).toBeCloseTo(0.1, 10);
    expect(ms.get(0.15)).toBeCloseTo(0.15, 10);
    expect(ms.get(0.25)).toBeCloseTo(0.25, 10);
    // An option whose first round noise spoiled (a negative difference) is timed in the others,
    // and the rest are still measured against the fastest that was timed.
    const script = [0, 1, 2, 4, 2, 4, 2];
    let call = 0;
    let slowCalls = 0;
    const slow = chainOf(0.5);
    const spoiled = await timeOptions(['b', 'a', 'c'], (o) => {
      if (o === 'b') return chainOf(0.1);
      if (o === 'a') return async () => script[call++]!;
      return async (n) => (slowCalls++, slow(n));
    });
    expect(call).toBe(script.length);
    expect(spoiled.get('a')).toBeCloseTo(2 / 32, 10);
    expect(slowCalls).toBe(1 + 2);
  });
});
