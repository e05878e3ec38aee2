/**
 * The plan's phases as a timeline: one column per phase (as wide as its epochs), one row per block,
 * a filled cell where the block trains in that phase, labelled with its learning rate (its own, from
 * `decay` or `lr BLOCK`, where it has one).
 */
import { fmt, h } from './dom.ts';
import type { Plan } from './queries.ts';

const UNITS = ['block1', 'block2', 'block3', 'block4', 'block5', 'head'];

export function phaseTimeline(plan: Plan, current: number | null): HTMLElement {
  const phases = plan.phases;
  const columns = `6em ${phases.map((p) => `${Math.max(p.epochs, 1)}fr`).join(' ')}`;
  const grid = h('div', { class: 'timeline', style: `grid-template-columns: ${columns}` });
  grid.append(h('div', { class: 'tl-corner' }, 'block'));
  phases.forEach((p, i) =>
    grid.append(
      h(
        'div',
        { class: i === current ? 'tl-phase current' : 'tl-phase', dataset: { phase: String(i) } },
        h('b', {}, p.name),
        ` ${p.epochs} ep · lr ${p.findLr ? 'auto' : fmt.lr(p.lr)} · ${p.optimizer.kind}${p.optimizer.weightDecay ? ` wd ${fmt.lr(p.optimizer.weightDecay)}` : ''}${p.clip ? ` · clip ${p.clip.mode} ${p.clip.max}` : ''}`,
      ),
    ),
  );
  for (const unit of UNITS) {
    grid.append(h('div', { class: 'tl-unit' }, unit));
    for (const p of phases) {
      const trains = p.trainable.includes(unit);
      const lr = p.lr * (p.lrMultipliers?.[unit] ?? 1);
      // A searched rate (lr auto) is known when the phase starts: the cell says so, and the factor decay gives the unit.
      const factor = p.lrMultipliers?.[unit] ?? 1;
      const label = p.findLr ? (factor === 1 ? 'auto' : `auto×${Number(factor.toPrecision(3))}`) : fmt.lr(lr);
      grid.append(h('div', { class: trains ? 'tl-cell on' : 'tl-cell', title: trains ? (p.findLr ? `${unit} trains at ${factor === 1 ? 'the searched rate' : `${factor} times the searched rate`}` : `${unit} trains at lr ${lr}`) : `${unit} frozen` }, trains ? label : ''));
    }
  }
  const layers = phases.flatMap((p) => p.trainableLayers.map((l) => `${p.name}: ${l}`));
  // Layers given a rate of their own (`lr "layer" 1e-5`): the grid has a row per block only.
  const own = phases.flatMap((p) => Object.entries(p.lrMultipliers ?? {}).filter(([unit]) => !UNITS.includes(unit)).map(([unit, f]) => `${p.name}: ${unit} at ${fmt.lr(p.lr * f)}`));
  return h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Plan'),
    grid,
    layers.length > 0 && h('p', { class: 'muted', id: 'unfrozen-layers' }, `Also unfrozen by name: ${layers.join(', ')}`),
    own.length > 0 && h('p', { class: 'muted', id: 'layer-rates' }, `Layers with a rate of their own: ${own.join(', ')}`),
    (plan.labelSmoothing ?? 0) > 0 && h('p', { class: 'muted', id: 'label-smoothing' }, `Label smoothing ${plan.labelSmoothing}`),
  );
}
