/**
 * What `tl run` prints (src/cli/progress.ts): under a phase, the report of its replayed steps and of
 * its products' GEMM tiles, where the backend made them (webgpu), and nothing where it did not; at the
 * end, the classes the model misses most.
 */
import { describe, expect, it } from 'vitest';
import { printEvent } from '../../src/cli/progress.ts';
import type { ExecutorEvent, StepReplay, TileTuning } from '../../src/executor/events.ts';

function print(event: ExecutorEvent): string {
  let text = '';
  const out = { isTTY: false, write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream;
  printEvent(event, out);
  return text;
}

function printed(replay: StepReplay | null, tiles: TileTuning | null): string {
  return print({ type: 'phaseEnded', at: '2026-11-30T00:00:00Z', phase: 0, name: 'head', epochsRun: 3, stoppedEarly: false, best: null, replay, tiles });
}

/** The summary's weakest-classes line for these recalls (one class a recall, named a, b, c...). */
function weakest(recalls: number[], support = 10): string {
  const perClass = recalls.map((recall, i) => ({ label: String.fromCharCode(97 + i), precision: support && 1, recall, support }));
  const metrics = { loss: 0.1, accuracy: 0.9, valLoss: 0.2, valAccuracy: 0.9, valTop5: null, testAccuracy: null, testTop5: null, perClass, confusion: [], classes: perClass.map((c) => c.label) };
  return print({ type: 'jobFinished', at: '2026-11-30T00:00:00Z', metrics, exportPath: null, seconds: 1 }).split('\n').find((l) => l.includes('weakest')) ?? '';
}

describe('the phase line', () => {
  const started = { type: 'phaseStarted', at: '2026-12-02T00:00:00Z', phase: 1, name: 'finetune', epochs: 3, trainable: ['block5', 'head'], trainableParams: 1234, lr: 3e-4, unitRates: [{ unit: 'block5', lr: 1e-4 }], cachedFeatures: false, cachedAt: null } as const;

  it("names the phase's optimizer, schedule and clipping, as the script writes them", () => {
    expect(print({ ...started, optimizer: 'sgd momentum 0.9 weight decay 0.0005', schedule: 'cosine min 0.000001' })).toBe(
      "\nphase 2 'finetune': 3 epochs, sgd momentum 0.9 weight decay 0.0005, lr 3e-4 cosine min 0.000001 (block5 1e-4), training block5 + head (1,234 parameters)\n",
    );
    expect(print({ ...started, optimizer: 'sgd', schedule: '', clip: 'clip norm 1' })).toBe("\nphase 2 'finetune': 3 epochs, sgd, lr 3e-4 (block5 1e-4), clip norm 1, training block5 + head (1,234 parameters)\n");
    expect(print({ ...started, optimizer: 'adam', schedule: '' })).toBe("\nphase 2 'finetune': 3 epochs, adam, lr 3e-4 (block5 1e-4), training block5 + head (1,234 parameters)\n");
  });

  it('says a searched rate was searched, and when the search starts', () => {
    expect(print({ ...started, optimizer: 'adam', schedule: '', lrSearched: true })).toContain(', adam, lr 3e-4 (searched) (block5 1e-4),');
    const point = (step: number) => print({ type: 'lrPoint', at: '2026-12-02T00:00:00Z', phase: 1, name: 'finetune', step, steps: 100, lr: 1e-7, loss: 2.3, smoothed: 2.3 });
    expect(point(1)).toBe("  searching the rate of phase 'finetune': 100 steps at rates rising from 1e-7\n");
    expect(point(2)).toBe('');
  });

  it('prints an event stored before the optimizer was reported without one', () => {
    expect(print(started)).toBe("\nphase 2 'finetune': 3 epochs, lr 3e-4 (block5 1e-4), training block5 + head (1,234 parameters)\n");
  });
});

describe('the epoch line', () => {
  const metrics = { loss: 1.2345, accuracy: 0.5, valLoss: 1.5, valAccuracy: 0.4, valTop5: null };
  const epoch = (m: object) => print({ type: 'epochEnded', at: '2026-12-02T00:00:00Z', phase: 0, epoch: 2, epochs: 5, metrics: { ...metrics, ...m }, imagesPerSecond: 100, seconds: 1, etaSeconds: 3 });

  it('says the gradients\' mean norm and how many steps were clipped where the phase clips by norm, and nothing otherwise', () => {
    expect(epoch({ gradNorm: 2.5, clipped: 0.75 })).toBe('  epoch  2/5  loss 1.2345  acc  50.0%  val_loss 1.5000  val_acc  40.0%  grad_norm 2.5000 (clipped 75.0%)  100.0 img/s  eta 3s\n');
    expect(epoch({})).toBe('  epoch  2/5  loss 1.2345  acc  50.0%  val_loss 1.5000  val_acc  40.0%  100.0 img/s  eta 3s\n');
  });
});

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

describe('a run with adapt', () => {
  const metrics = { loss: 0.5, accuracy: 0.8, valLoss: 0.6, valAccuracy: 0.75, valTop5: null };
  const epoch = (extra: object) =>
    print({ type: 'epochEnded', at: '2026-11-30T00:00:00Z', phase: 0, epoch: 2, epochs: 5, metrics: { ...metrics, ...extra }, imagesPerSecond: 100, seconds: 1, etaSeconds: 3 });

  it('says what it adapts to when the job starts', () => {
    const started = { type: 'jobStarted', at: '2026-11-30T00:00:00Z', backend: 'wasm', backendReason: 'r', model: 'tiny', classes: ['a', 'b'], trainImages: 8, valImages: 2, phases: [] } as const;
    expect(print({ ...started, adaptation: { method: 'adabn', target: 'dim/unlabelled', targetImages: 200 } })).toBe(
      "backend wasm: r\nmodel tiny, 2 classes, 8 training and 2 validation images\nadapt adabn to 200 unlabelled images of 'dim/unlabelled'\n",
    );
    expect(print({ ...started, adaptation: null })).toBe('backend wasm: r\nmodel tiny, 2 classes, 8 training and 2 validation images\n');
  });

  it("prints each epoch's adaptation loss, domain accuracy and pseudo-labels where the method measures them", () => {
    const head = '  epoch  2/5  loss 0.5000  acc  80.0%  val_loss 0.6000  val_acc  75.0%';
    const tail = '  100.0 img/s  eta 3s\n';
    expect(epoch({})).toBe(head + tail);
    expect(epoch({ adaptLoss: null, domainAccuracy: null, pseudoLabels: null })).toBe(head + tail);
    expect(epoch({ adaptLoss: 0.0123 })).toBe(`${head}  adapt_loss 0.0123${tail}`);
    expect(epoch({ adaptLoss: 1.5, domainAccuracy: 0.525 })).toBe(`${head}  adapt_loss 1.5000  domain_acc  52.5%${tail}`);
    expect(epoch({ adaptLoss: 0.3, pseudoLabels: 0 })).toBe(`${head}  adapt_loss 0.3000  pseudo_labels 0${tail}`);
  });
});

describe('the job summary', () => {
  it('names up to three classes the model misses most, and none it recalls fully or never scored', () => {
    expect(weakest([1, 0.5, 0.9, 0.25, 0.75])).toBe('  weakest classes      d (recall 25.0%), b (recall 50.0%), e (recall 75.0%)');
    expect(weakest([1, 0.8, 1])).toBe('  weakest classes      b (recall 80.0%)');
    expect(weakest([1, 1])).toBe('');
    // No validation or test images (a split too small to hold any out): nothing was scored.
    expect(weakest([0, 0], 0)).toBe('');
  });
});
