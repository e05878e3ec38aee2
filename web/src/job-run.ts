/**
 * What a job's events add up to: the curves, the current phase, epoch and ETA, and how it ended.
 * Events are applied in seq order; one already seen is ignored, so a replay after a reconnect can
 * never count twice.
 */
import { CappedSeries } from './charts.ts';
import type { Evaluation, FinalMetrics, JobEvent, LrFound, Metrics, Plan } from './queries.ts';

export class JobRun {
  lastSeq = 0;
  /** Events delivered, duplicates included, and how often a seq was skipped: both shown to tests. */
  received = 0;
  gaps = 0;
  backend: string | null = null;
  phase: number | null = null;
  phaseName: string | null = null;
  epoch = 0;
  epochs = 0;
  batch = 0;
  batches = 0;
  lr: number | null = null;
  eta: number | null = null;
  imagesPerSecond: number | null = null;
  finished: FinalMetrics | null = null;
  failed: { code: string; message: string; line: number | null; cancelled: boolean } | null = null;
  /** What the run went on past (skipped images...), each once: a resumed attempt repeats its data's warnings. */
  readonly warnings = new Set<string>();
  /** Metrics by global epoch (1-based across phases); a resumed run overwrites what it repeats. */
  readonly byEpoch = new Map<number, Metrics>();
  readonly batchLoss = new CappedSeries(2000);
  /** A learning-rate search's steps so far (an attempt after a restart starts them over), and what it found. */
  readonly lrPoints: { lr: number; loss: number | null; smoothed: number | null }[] = [];
  lrSteps = 0;
  lrFound: LrFound | null = null;
  /** What an evaluation measured. */
  evaluation: Evaluation | null = null;

  constructor(private readonly plan: Plan) {}

  /** Epochs planned before phase `p`, so epoch numbers run on across phases. */
  private offset(p: number): number {
    return this.plan.phases.slice(0, p).reduce((sum, ph) => sum + ph.epochs, 0);
  }

  /** False when the event was seen already. */
  apply(e: JobEvent): boolean {
    this.received++;
    if (e.seq <= this.lastSeq) return false;
    if (e.seq !== this.lastSeq + 1) this.gaps++;
    this.lastSeq = e.seq;
    switch (e.type) {
      case 'jobStarted':
        this.backend = e.backend;
        this.failed = null;
        break;
      case 'phaseStarted':
        Object.assign(this, { phase: e.phase, phaseName: e.name, epochs: e.epochs, lr: e.lr, epoch: 0, batch: 0 });
        break;
      case 'batchProgress':
        Object.assign(this, { phase: e.phase, batch: e.batch, batches: e.batches, lr: e.lr });
        this.batchLoss.push(this.offset(e.phase) + e.epoch - 1 + e.batch / e.batches, e.loss);
        break;
      case 'epochEnded':
        Object.assign(this, { phase: e.phase, epoch: e.epoch, epochs: e.epochs, eta: e.etaSeconds, imagesPerSecond: e.imagesPerSecond });
        this.byEpoch.set(this.offset(e.phase) + e.epoch, e.metrics);
        break;
      case 'jobFinished':
        this.finished = e.metrics;
        this.eta = 0;
        break;
      case 'jobFailed':
        this.failed = { code: e.code, message: e.message, line: e.line, cancelled: e.cancelled };
        this.eta = null;
        break;
      case 'warning':
        this.warnings.add(e.message);
        break;
      case 'lrPoint':
        if (e.step === 1) this.lrPoints.length = 0;
        this.lrPoints.push({ lr: e.lr, loss: e.loss, smoothed: e.smoothed });
        this.lrSteps = e.steps;
        break;
      case 'lrFound':
        this.lrFound = e.result;
        this.eta = 0;
        break;
      case 'evaluated':
        this.evaluation = e.evaluation;
        break;
      default:
        break;
    }
    return true;
  }

  /** uPlot columns: x, then one per metric. */
  epochColumns(keys: readonly (keyof Metrics)[]): (number | null)[][] {
    const xs = [...this.byEpoch.keys()].sort((a, b) => a - b);
    return [xs, ...keys.map((k) => xs.map((x) => this.byEpoch.get(x)?.[k] ?? null))];
  }
}
