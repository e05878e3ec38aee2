/** Classification metrics from predicted and true labels, computed in plain JS after the forward passes. */

export interface Confusion {
  readonly classes: readonly string[];
  /** matrix[true][predicted] */
  readonly matrix: number[][];
}

export function confusion(classes: readonly string[], truth: ArrayLike<number>, predicted: ArrayLike<number>): Confusion {
  const matrix = classes.map(() => classes.map(() => 0));
  for (let i = 0; i < truth.length; i++) matrix[truth[i]!]![predicted[i]!]! += 1;
  return { classes, matrix };
}

/** One class's precision and recall, and how many images it has (its support). */
export interface ClassScore {
  readonly label: string;
  readonly precision: number;
  readonly recall: number;
  readonly support: number;
}

export function perClass(c: Confusion): ClassScore[] {
  return c.classes.map((label, k) => {
    const tp = c.matrix[k]![k]!;
    const support = c.matrix[k]!.reduce((a, b) => a + b, 0);
    const predicted = c.matrix.reduce((a, row) => a + row[k]!, 0);
    return { label, precision: predicted ? tp / predicted : 0, recall: support ? tp / support : 0, support };
  });
}

/** Fraction of rows whose true class is among the top `k` scores. `scores` is row-major n x classes. */
export function topK(scores: Float32Array, classes: number, truth: ArrayLike<number>, k: number): number {
  let hits = 0;
  for (let i = 0; i < truth.length; i++) {
    const row = scores.subarray(i * classes, (i + 1) * classes);
    const target = row[truth[i]!]!;
    let above = 0;
    for (let j = 0; j < classes; j++) if (row[j]! > target) above++;
    if (above < k) hits++;
  }
  return truth.length ? hits / truth.length : 0;
}

export function argmaxRows(scores: Float32Array, classes: number): Int32Array {
  const n = scores.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < classes; j++) if (scores[i * classes + j]! > scores[i * classes + best]!) best = j;
    out[i] = best;
  }
  return out;
}
