/**
 * What `tl run` prints under a phase (src/cli/progress.ts): the report of its replayed steps and of
 * its products' GEMM tiles, where the backend made them (webgpu), and nothing where it did not.
 */
import { describe, expect, it } from 'vitest';
import { printEvent } from '../../src/cli/progress.ts';
import type { ExecutorEvent, StepReplay, TileTuning } from '../../src/executor/events.ts';

function printed(replay: StepReplay | null, tiles: TileTuning | null): string {
  let text = '';
  const out = { isTTY: false, write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream;
  const event: ExecutorEvent = { type: 'phaseEnded', at: '2026-11-30T00:00:00Z', phase: 0, name: 'head', epochsRun: 3, stoppedEarly: false, best: null, replay, tiles };
  printEvent(event, out);
  return text;
}

describe('the phase summary', () => {
  it('says how the products got their tiles: measured, kept from earlier runs, or both', () => {
    const replay = { steps: 30, replayed: 26, note: null };
    expect(printed(replay, { products: 62, measured: 62, cached: 0, seconds: 18.25 })).toBe('  26 of 30 steps replayed\n  GEMM tiles: 62 products measured (18.3 s)\n');
    expect(printed(null, { products: 62, measured: 0, cached: 62, seconds: 0.4 })).toBe('  GEMM tiles: 62 kept from earlier runs (0.4 s)\n');
    expect(printed(null, { products: 13, measured: 1, cached: 12, seconds: 1.04 })).toBe('  GEMM tiles: 1 product measured, 12 kept from earlier runs (1.0 s)\n');
  });

  it('says nothing of tiles where none were chosen: another backend, or all chosen in an earlier phase', () => {
    expect(printed(null, null)).toBe('');
    expect(printed(null, { products: 0, measured: 0, cached: 0, seconds: 0.1 })).toBe('');
  });
});
