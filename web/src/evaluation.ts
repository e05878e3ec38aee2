/**
 * An evaluation's result (EVALUATE jobs): accuracy, each class's precision and recall, the
 * confusion matrix, the pairs of classes the model confuses most and its worst mistakes, as
 * `tl evaluate` prints them.
 */
import { matrixTable } from './confusion.ts';
import { fmt, h } from './dom.ts';
import type { Evaluation } from './queries.ts';

export function evaluationPanel(e: Evaluation): HTMLElement {
  const summary = [`${e.images} images`, `accuracy ${fmt.pct(e.accuracy)}`, ...(e.top5 !== null ? [`top-5 ${fmt.pct(e.top5)}`] : []), ...(e.loss !== null ? [`loss ${e.loss.toFixed(4)}`] : [])].join(' · ');
  const classes = h(
    'table',
    { class: 'per-class' },
    h('tr', {}, h('th', {}, 'class'), h('th', {}, 'precision'), h('th', {}, 'recall'), h('th', {}, 'images')),
    ...e.perClass.map((c) => h('tr', {}, h('th', {}, c.label), h('td', {}, fmt.pct(c.precision)), h('td', {}, c.support > 0 ? fmt.pct(c.recall) : '–'), h('td', {}, String(c.support)))),
  );
  return h(
    'section',
    { class: 'panel', id: 'evaluation', dataset: { accuracy: String(e.accuracy) } },
    h('h2', {}, 'Evaluation'),
    h('p', { class: 'muted', id: 'evaluation-summary' }, summary),
    h('div', { class: 'row tables' }, classes, matrixTable(e)),
    e.confused.length > 0 && h('h3', {}, 'Most confused (true → predicted)'),
    e.confused.length > 0 && h('ul', { id: 'confused' }, ...e.confused.slice(0, 5).map((c) => h('li', {}, `${c.truth} → ${c.predicted}: ${c.count}`))),
    e.mistakes.length > 0 && h('h3', {}, 'Worst mistakes'),
    e.mistakes.length > 0 &&
      h('ul', { id: 'mistakes' }, ...e.mistakes.map((m) => h('li', {}, h('code', {}, m.source), ` ${m.truth} taken for ${m.predicted} (${fmt.pct(m.probability)}; ${m.truth} ${fmt.pct(m.truthProbability)})`))),
  );
}
