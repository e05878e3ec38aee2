/**
 * Live line charts on uPlot. Data changes only mark a chart dirty; drawing happens at most once per
 * animation frame, so a burst of thousands of events (a replayed job) costs one redraw.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesSpec {
  readonly label: string;
  readonly stroke: string;
  readonly dash?: number[];
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly series: readonly SeriesSpec[];
  /** Fixed y range, e.g. [0, 1] for accuracy. */
  readonly range?: readonly [number, number];
  /** A logarithmic x axis (learning rates); otherwise whole numbers (epochs). */
  readonly logX?: boolean;
}

export class LiveChart {
  private plot: uPlot | null = null;
  private data: (number | null)[][] = [];
  private frame = 0;
  readonly el: HTMLElement;

  constructor(private readonly spec: ChartSpec) {
    this.el = document.createElement('div');
    this.el.className = 'chart';
    this.el.dataset.chart = spec.title;
  }

  /** Columns: x first, then one per series (null: no value at that x). Drawn at the next frame. */
  set(data: (number | null)[][]): void {
    this.data = data;
    this.el.dataset.points = String(data[0]?.length ?? 0);
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.draw());
  }

  private draw(): void {
    this.frame = 0;
    if (!this.el.isConnected) return;
    const width = Math.max(280, this.el.clientWidth || 480);
    if (this.plot === null) {
      const { range } = this.spec;
      this.plot = new uPlot(
        {
          title: this.spec.title,
          width,
          height: 220,
          scales: { x: { time: false, ...(this.spec.logX && { distr: 3 }) }, ...(range && { y: { range: [range[0], range[1]] } }) },
          // Whole epochs on the x axis: no 1.5 ticks.
          axes: [this.spec.logX ? { label: this.spec.xLabel } : { label: this.spec.xLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, {}],
          series: [{ label: this.spec.xLabel }, ...this.spec.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: true, ...(s.dash && { dash: s.dash }) }))],
        },
        this.data as uPlot.AlignedData,
        this.el,
      );
    } else {
      if (this.plot.width !== width) this.plot.setSize({ width, height: 220 });
      this.plot.setData(this.data as uPlot.AlignedData);
    }
  }

  destroy(): void {
    cancelAnimationFrame(this.frame);
    this.plot?.destroy();
  }
}

/**
 * Per-batch points with a cap: past `max` points every other one is dropped, so memory and drawing
 * stay bounded however long the job runs while the curve keeps its shape.
 */
export class CappedSeries {
  readonly x: number[] = [];
  readonly y: (number | null)[] = [];
  constructor(private readonly max = 2000) {}

  push(x: number, y: number | null): void {
    // A resumed run repeats epochs after its checkpoint: its points replace the old ones.
    while (this.x.length > 0 && this.x[this.x.length - 1]! >= x) {
      this.x.pop();
      this.y.pop();
    }
    this.x.push(x);
    this.y.push(y);
    if (this.x.length > this.max) {
      let j = 0;
      for (let i = 0; i < this.x.length; i += 2, j++) {
        this.x[j] = this.x[i]!;
        this.y[j] = this.y[i]!;
      }
      this.x.length = j;
      this.y.length = j;
    }
  }
}
