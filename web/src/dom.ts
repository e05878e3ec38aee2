/** A tiny element builder: enough DOM for a handful of views without a framework. */
type Child = Node | string | number | null | undefined | false;
type Props = { class?: string; dataset?: Record<string, string>; style?: string; [attr: string]: unknown };

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value as EventListener);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: readonly Child[]): void {
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export const fmt = {
  pct: (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`),
  num: (x: number | null | undefined, digits = 4) => (x === null || x === undefined ? '–' : x.toFixed(digits)),
  lr: (x: number) => Number(x.toPrecision(3)).toExponential(),
  eta: (s: number | null | undefined) => (s === null || s === undefined ? '–' : s < 60 ? `${Math.round(s)}s` : `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`),
  time: (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '–'),
};
