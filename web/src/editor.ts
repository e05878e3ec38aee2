/**
 * A .tl editor: a transparent textarea over a highlighted copy of its text, with each diagnostic's
 * span underlined in place and its message at the end of its line, so the text never moves. Below
 * it, each diagnostic is printed under a copy of its line with a caret, like `tl check`.
 */
import { fill, h } from './dom.ts';
import { tokenize } from './highlight.ts';
import type { Diagnostic } from './queries.ts';

/** Splits a line's tokens at the span [from, to) (0-based columns) so the span can be wrapped. */
function renderLine(line: string, marks: readonly Diagnostic[]): Node[] {
  const cls = new Array<string>(line.length).fill('');
  const marked = new Array<string>(line.length).fill('');
  let at = 0;
  for (const t of tokenize(line)) for (const _ of t.text) cls[at++] = t.cls;
  // Marks come errors first; paint them last so an error shows through a warning on the same text.
  for (const d of [...marks].reverse()) {
    const from = (d.column ?? 1) - 1;
    const to = d.endLine === d.line && d.endColumn !== null && d.endColumn > from + 1 ? d.endColumn - 1 : Math.max(from + 1, line.length);
    for (let i = from; i < Math.min(to, line.length); i++) marked[i] = d.severity === 'ERROR' ? 'squiggle error' : 'squiggle warning';
  }
  const out: Node[] = [];
  let start = 0;
  for (let i = 1; i <= line.length; i++) {
    if (i === line.length || cls[i] !== cls[start] || marked[i] !== marked[start]) {
      const text = line.slice(start, i);
      const className = [cls[start], marked[start]].filter(Boolean).join(' ');
      out.push(className ? h('span', { class: className }, text) : document.createTextNode(text));
      start = i;
    }
  }
  // A diagnostic past the line's end (e.g. a missing statement) still gets a visible mark.
  if (marks.some((d) => (d.column ?? 1) > line.length)) out.push(h('span', { class: 'squiggle error' }, ' '));
  return out;
}

export class Editor {
  readonly el: HTMLElement;
  readonly textarea: HTMLTextAreaElement;
  private readonly view: HTMLElement;
  private readonly listing: HTMLElement;
  private diagnostics: readonly Diagnostic[] = [];

  constructor(initial: string, onChange: (source: string) => void) {
    this.textarea = h('textarea', { name: 'source', spellcheck: 'false', wrap: 'off', autocapitalize: 'off', 'aria-label': 'script' });
    this.textarea.value = initial;
    this.view = h('pre', { class: 'editor-view', 'aria-hidden': 'true' });
    this.listing = h('div', { class: 'diagnostics', id: 'diagnostics' });
    this.el = h('div', {}, h('div', { class: 'editor' }, this.view, this.textarea), this.listing);
    this.textarea.addEventListener('input', () => {
      this.render();
      onChange(this.textarea.value);
    });
    this.textarea.addEventListener('keydown', (e) => {
      if (e.key !== 'Tab') return;
      e.preventDefault();
      this.textarea.setRangeText('  ', this.textarea.selectionStart, this.textarea.selectionEnd, 'end');
      this.textarea.dispatchEvent(new Event('input'));
    });
    this.render();
  }

  get value(): string {
    return this.textarea.value;
  }

  /** Replaces the text as an edit would (saved and checked like typing), kept in the textarea's undo history where the browser allows. */
  set value(text: string) {
    this.textarea.focus();
    this.textarea.select();
    // execCommand keeps Ctrl-Z able to bring the old text back; where it is not supported, a plain assignment.
    if (!document.execCommand('insertText', false, text)) {
      this.textarea.value = text;
      this.textarea.dispatchEvent(new Event('input'));
    }
  }

  setDiagnostics(diagnostics: readonly Diagnostic[]): void {
    this.diagnostics = diagnostics;
    this.render();
  }

  private render(): void {
    const lines = this.textarea.value.split('\n');
    fill(
      this.view,
      ...lines.map((line, i) => {
        // Errors first; only the first message fits at the line's end (all are listed below).
        const marks = this.diagnostics.filter((d) => d.line === i + 1).sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'ERROR' ? -1 : 1));
        return h(
          'div',
          { class: marks.length ? 'ed-line has-diag' : 'ed-line', dataset: { line: String(i + 1) } },
          ...renderLine(line, marks),
          marks[0] && h('span', { class: `inline-diag ${marks[0].severity.toLowerCase()}` }, `  ${marks[0].message}${marks.length > 1 ? ` (+${marks.length - 1} more below)` : ''}`),
          '\n',
        );
      }),
    );
    fill(
      this.listing,
      ...this.diagnostics.map((d) => {
        const line = d.line === null ? null : lines[d.line - 1] ?? '';
        return h(
          'div',
          { class: `diag ${d.severity.toLowerCase()}`, dataset: { line: String(d.line ?? ''), code: d.code } },
          h('div', { class: 'diag-head' }, d.line === null ? `${d.severity.toLowerCase()} ${d.code}` : `${d.line}:${d.column} ${d.severity.toLowerCase()} ${d.code}`),
          line !== null && h('pre', { class: 'diag-src' }, `${d.line} | ${line}\n${' '.repeat(String(d.line).length + 3 + (d.column ?? 1) - 1)}^ ${d.message}`),
          line === null && h('div', {}, d.message),
        );
      }),
    );
  }
}
