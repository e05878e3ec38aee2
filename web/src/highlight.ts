/**
 * Syntax highlighting driven by the generated editor grammar (grammar/tl.tmLanguage.json), so the
 * keyword lists are the compiler's own. Each top-level pattern becomes a sticky regex tried in
 * order at each position; a begin/end pattern (strings) matches through its end or the line's end.
 */
import grammar from '../../grammar/tl.tmLanguage.json';
import { h } from './dom.ts';

interface Rule {
  readonly re: RegExp;
  /** The scope's first part: comment, string, constant, keyword, entity, variable, support, punctuation. */
  readonly cls: string;
}

interface Pattern {
  readonly name: string;
  readonly match?: string;
  readonly begin?: string;
  readonly end?: string;
}

const RULES: readonly Rule[] = (grammar.patterns as readonly Pattern[]).map((p) => ({
  re: new RegExp(p.match ?? `${p.begin}(?:\\\\.|(?!${p.end}).)*(?:${p.end})`, 'y'),
  cls: `tok-${p.name.split('.')[0]}`,
}));

export interface Token {
  readonly text: string;
  /** Empty for plain text. */
  readonly cls: string;
}

/** One line's tokens; plain runs are merged. */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  const push = (text: string, cls: string) => {
    const last = out[out.length - 1];
    if (last && last.cls === cls && cls === '') out[out.length - 1] = { text: last.text + text, cls };
    else out.push({ text, cls });
  };
  let i = 0;
  while (i < line.length) {
    let matched = false;
    // A word character in the middle of a word (e.g. `e` in `use`) cannot start a keyword.
    const midWord = i > 0 && /\w/.test(line[i - 1]!) && /\w/.test(line[i]!);
    for (const rule of midWord ? [] : RULES) {
      rule.re.lastIndex = i;
      const m = rule.re.exec(line);
      if (m && m[0].length > 0) {
        push(m[0], rule.cls);
        i += m[0].length;
        matched = true;
        break;
      }
    }
    if (!matched) push(line[i++]!, '');
  }
  return out;
}

/** A highlighted, line-numbered listing of a script (read only). */
export function codeBlock(source: string, markLine?: number | null): HTMLElement {
  const lines = source.replace(/\n$/, '').split('\n');
  return h(
    'pre',
    { class: 'code' },
    ...lines.map((line, i) =>
      h(
        'div',
        { class: i + 1 === markLine ? 'code-line marked' : 'code-line', dataset: { line: String(i + 1) } },
        h('span', { class: 'ln' }, String(i + 1)),
        ...tokenize(line).map((t) => (t.cls ? h('span', { class: t.cls }, t.text) : t.text)),
      ),
    ),
  );
}
