/** Damerau-Levenshtein distance (optimal string alignment), for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}

/** The candidates close enough to `word` (case-insensitive) to be a plausible typo, nearest first, with their distances. */
function ranked(word: string, candidates: readonly string[]): { c: string; d: number }[] {
  const w = word.toLowerCase();
  if (w.length > 64) return [];
  const limit = Math.max(1, Math.floor(w.length / 3));
  return candidates
    .map((c) => ({ c, d: editDistance(w, c.toLowerCase()) }))
    .filter(({ c, d }) => d <= limit || c.toLowerCase().startsWith(w) || w.startsWith(c.toLowerCase()))
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c));
}

/** The candidates nearest to `word` (case-insensitive), close enough to be a plausible typo. */
export function nearest(word: string, candidates: readonly string[], max = 3): string[] {
  return ranked(word, candidates).slice(0, max).map(({ c }) => c);
}

/**
 * "; did you mean 'x'?" or "; did you mean 'x' or 'y'?", or '' when nothing is close. Never a
 * pick among equals: where a third candidate is as near as the second, only a nearer first is
 * named ('block9' is one edit from each of block1..block5, so none is suggested).
 */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const near = ranked(word, candidates);
  const tied = near.length > 2 && near[2]!.d === near[1]!.d;
  const named = tied ? (near[0]!.d < near[1]!.d ? near.slice(0, 1) : []) : near.slice(0, 2);
  if (named.length === 0) return '';
  return `; did you mean ${named.map(({ c }) => `'${c}'`).join(' or ')}?`;
}

export function quoteList(items: readonly string[]): string {
  return items.map((i) => `'${i}'`).join(', ');
}
