/** The final confusion matrix (rows: true class, columns: predicted), shaded by row share. */
import { fmt, h } from './dom.ts';
import type { FinalMetrics } from './queries.ts';

/** A run's matrix (on its test set, else its validation set), with its accuracies above it. */
export function confusionMatrix(m: FinalMetrics): HTMLElement {
  const summary = `validation accuracy ${fmt.pct(m.valAccuracy)}${m.testAccuracy !== null ? `, test accuracy ${fmt.pct(m.testAccuracy)}` : ''}`;
  return h('section', { class: 'panel', id: 'confusion' }, h('h2', {}, 'Confusion matrix'), h('p', { class: 'muted' }, summary), matrixTable(m));
}

/** The table alone: a row per true class, a column per predicted one, and each class's recall. */
export function matrixTable(m: Pick<FinalMetrics, 'classes' | 'confusion' | 'perClass'>): HTMLElement {
  const table = h('table', { class: 'confusion' });
  table.append(h('tr', {}, h('th', {}, 'true \\ predicted'), ...m.classes.map((c) => h('th', {}, c)), h('th', {}, 'recall')));
  m.confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    table.append(
      h(
        'tr',
        {},
        h('th', {}, m.classes[i] ?? String(i)),
        ...row.map((n, j) => h('td', { class: i === j ? 'diag' : '', style: `--share: ${(n / total).toFixed(3)}` }, String(n))),
        h('td', {}, fmt.pct(m.perClass[i]?.recall)),
      ),
    );
  });
  return table;
}
