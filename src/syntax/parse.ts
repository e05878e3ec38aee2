/**
 * Source text -> AST. Lexes the whole script, splits it into statements at `;` and line ends (a line
 * ending in `,` continues), parses each statement on its own so one error never hides the next, and
 * reports every problem as a diagnostic with a span. Never throws on any input.
 */
import type { IRecognitionException, IToken } from 'chevrotain';
import { TlParser } from '../../grammar/parser.ts';
import { STATEMENT_KEYWORDS, StringLiteral, TlLexer } from '../../grammar/tokens.ts';
import { error, type Diagnostic, type Span } from '../diagnostics/diagnostic.ts';
import { printable } from '../diagnostics/printable.ts';
import { didYouMean, nearest, quoteList } from '../diagnostics/suggest.ts';
import type { Comment, Script, Statement } from './ast.ts';
import { messageProvider, describeToken } from './parse-messages.ts';
import { tokenSpan, toStatement } from './to-ast.ts';

/** Past this many, further syntax errors only add noise (think of a binary file passed by mistake). */
export const MAX_SYNTAX_DIAGNOSTICS = 50;

let sharedParser: TlParser | undefined;
function parser(): TlParser {
  sharedParser ??= new TlParser({ errorMessageProvider: messageProvider });
  return sharedParser;
}

/** The options each statement accepts after its fixed part, for "expected ..." messages. */
const STATEMENT_OPTIONS: Record<string, readonly string[]> = {
  use: ['weights', 'input', 'cut'],
  data: ['split', 'val', 'balance'],
  head: ['dense', 'dropout'],
  augment: [','],
  phase: ['epochs', 'lr', 'batch', 'optimizer', 'schedule', 'clip', 'unfreeze', 'decay'],
  adapt: ['target', 'weight', 'threshold', 'rounds', 'at'],
  early: ['patience', 'monitor'],
  checkpoint: ['monitor'],
  evaluate: ['tta'],
  optimizer: ['momentum', 'weight decay'],
  schedule: ['warmup', 'min', 'every', 'gamma'],
};

export interface ParseResult {
  readonly script: Script;
  readonly diagnostics: readonly Diagnostic[];
}

export function parse(source: string): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const lexed = TlLexer.tokenize(source);

  for (const e of lexed.errors) {
    const ch = source.slice(e.offset, e.offset + e.length);
    const shown = printable([...ch].slice(0, 8).join(''));
    // `lr=1e-4`, `epochs: 5`: the habit of config files.
    const assigns = /^[=:]/.test(ch)
      ? `; options take their value after a space, with no '${ch[0]}': lr 1e-4`
      : ch.startsWith("'")
        ? `; strings take double quotes: "images/"`
        : `; TL scripts use names, numbers, "strings", ',' and ';'`;
    diagnostics.push(
      error('stray-character', `unexpected character${ch.length > 1 ? 's' : ''} '${shown}'${ch.length > 8 ? '...' : ''}${assigns}`, {
        start: e.offset,
        end: e.offset + e.length,
      }),
    );
  }

  const tokens = lexed.tokens.map((t): IToken => {
    if (t.tokenType.name !== 'UnterminatedString') return t;
    diagnostics.push(
      error('unterminated-string', `string is not closed; add '"' before the end of the line`, tokenSpan(t)),
    );
    return { ...t, tokenType: StringLiteral, tokenTypeIdx: StringLiteral.tokenTypeIdx! };
  });

  const statements: Statement[] = [];
  const unreadable: string[] = [];
  // The statement before, with any options written after it as statements of their own (said once each).
  let previous: Group | undefined;
  for (const group of splitStatements(tokens)) {
    if (diagnostics.length >= MAX_SYNTAX_DIAGNOSTICS) break;
    const stray = strayOption(group, previous);
    if (stray) {
      diagnostics.push(error('unknown-statement', stray, tokenSpan(group.tokens[0]!)));
      if (previous) previous = { tokens: [...previous.tokens, ...group.tokens], endedBy: group.endedBy };
      continue;
    }
    previous = group;
    const statement = parseStatement(group, diagnostics);
    if (typeof statement === 'object') statements.push(statement);
    else if (statement) unreadable.push(statement);
  }
  if (diagnostics.length >= MAX_SYNTAX_DIAGNOSTICS) {
    diagnostics.length = MAX_SYNTAX_DIAGNOSTICS;
    const last = diagnostics[diagnostics.length - 1]!;
    diagnostics.push(error('too-many-errors', `stopped after ${MAX_SYNTAX_DIAGNOSTICS} syntax errors; is this a TL script?`, last.span));
  }

  const comments: Comment[] = (lexed.groups['comments'] ?? []).map((t) => ({ text: t.image, span: tokenSpan(t) }));
  return { script: { statements, comments, unreadable }, diagnostics };
}

/** A statement as scripts write it, from its first word: `early` is `early stop`, `label` is `label smoothing`. */
function statementName(keyword: string): string {
  return keyword === 'early' ? 'early stop' : keyword === 'label' ? 'label smoothing' : keyword;
}

/** One statement's tokens, and what ended it. */
interface Group {
  readonly tokens: IToken[];
  readonly endedBy: 'Semicolon' | 'Newline' | 'EOF';
}

/** Statements end at `;` or a line end, except a line end right after `,` (a list goes on). */
function* splitStatements(tokens: readonly IToken[]): Generator<Group> {
  let current: IToken[] = [];
  for (const t of tokens) {
    const kind = t.tokenType.name;
    if (kind === 'Semicolon' || kind === 'Newline') {
      if (kind === 'Newline' && current[current.length - 1]?.tokenType.name === 'Comma') continue;
      if (current.length > 0) yield { tokens: current, endedBy: kind };
      current = [];
    } else current.push(t);
  }
  if (current.length > 0) yield { tokens: current, endedBy: 'EOF' };
}

/**
 * A statement's option written as a statement of its own: most often on an indented line under the
 * statement it belongs to, as if that continued it. Says so, joined into the line it was meant to be.
 */
function strayOption(group: Group, previous: Group | undefined): string | undefined {
  const first = group.tokens[0]!;
  const word = first.image;
  if ((STATEMENT_KEYWORDS as readonly string[]).includes(word)) return undefined;
  const text = (g: Group) => g.tokens.map((t) => t.image).join(' ');
  if (previous) {
    // The options the statement before takes, including those of a setting inside it (`schedule cosine` then `warmup 2`).
    const scopes = [previous.tokens[0]!.image, ...previous.tokens.slice(1).map((t) => t.image).filter((w) => w === 'optimizer' || w === 'schedule')];
    const ended = previous.endedBy === 'Semicolon' ? "a ';'" : 'the line end';
    const joined = `'${printable(`${text(previous)} ${text(group)}`)}'`;
    if (scopes.some((scope) => STATEMENT_OPTIONS[scope]?.includes(word))) {
      return `'${word}' belongs to the '${statementName(scopes[0]!)}' statement before it, but ${ended} closed that statement; write them as one: ${joined}`;
    }
    if (scopes[0] === 'augment' && first.tokenType.name === 'Identifier' && !didYouMean(word, STATEMENT_KEYWORDS)) {
      return `'${word}' is not a statement; to go on with the 'augment' list before it, end the line above with ','`;
    }
  }
  const owners = Object.entries(STATEMENT_OPTIONS).filter(([scope, options]) => options.includes(word) && (STATEMENT_KEYWORDS as readonly string[]).includes(scope));
  if (owners.length === 0) return undefined;
  const names = owners.map(([scope]) => statementName(scope));
  return `'${word}' is an option of ${names.map((n) => `'${n}'`).join(' and of ')}, not a statement of its own; write it in ${names.length > 1 ? 'one of them, e.g.' : `a '${names[0]}' statement:`} '${printable(`${names[0]} ${text(group)}`)}'`;
}

/** The statement, or when it cannot be read, the keyword it was meant to have (if any is close). */
function parseStatement({ tokens }: Group, diagnostics: Diagnostic[]): Statement | string | undefined {
  const first = tokens[0]!;
  const last = tokens[tokens.length - 1]!;
  const span: Span = { start: first.startOffset, end: tokenSpan(last).end };
  const keyword = first.image;

  if (!(STATEMENT_KEYWORDS as readonly string[]).includes(keyword)) {
    const what = first.tokenType.name === 'Identifier' || first.tokenType.name.startsWith('Kw_') ? `'${keyword}'` : describeToken(first);
    diagnostics.push(
      error(
        'unknown-statement',
        `expected a statement (${quoteList(STATEMENT_KEYWORDS.map(statementName))}), found ${what}${didYouMean(keyword, STATEMENT_KEYWORDS)}`,
        tokenSpan(first),
      ),
    );
    return nearest(keyword, STATEMENT_KEYWORDS, 1)[0];
  }

  const p = parser();
  p.input = tokens;
  p.singleStatement();
  const problem = p.errors[0];
  if (problem) {
    diagnostics.push(syntaxError(problem, keyword, tokens));
    return keyword;
  }
  const local: Diagnostic[] = [];
  const statement = toStatement(tokens, span, local);
  diagnostics.push(...local);
  return statement;
}

function syntaxError(e: IRecognitionException, keyword: string, tokens: IToken[]): Diagnostic {
  const found = e.token;
  const atEnd = found.tokenType.name === 'EOF' || Number.isNaN(found.startOffset);
  const previous = (e as IRecognitionException & { previousToken?: IToken }).previousToken ?? tokens[tokens.length - 1]!;
  const span: Span = atEnd
    ? { start: tokenSpan(previous).end, end: tokenSpan(previous).end }
    : tokenSpan(found);

  // Two tokens written as one word: `resnet-50` (a name, then the number -50), `15deg` (a number, then a name).
  const left = tokens[tokens.indexOf(found) - 1];
  if (!atEnd && left && tokenSpan(left).end === found.startOffset) {
    const word = `${left.image}${found.image}`;
    if (left.tokenType.name === 'Identifier' && found.tokenType.name === 'NumberLiteral' && found.image.startsWith('-')) {
      return error('unexpected-token', `'${word}' is not one name: names have no '-'; write ${left.image}${found.image.slice(1)}`, { start: left.startOffset, end: span.end });
    }
    if (left.tokenType.name === 'NumberLiteral' && found.tokenType.name === 'Identifier') {
      return error('unexpected-token', `'${word}': numbers are written without a unit; write ${left.image}`, { start: left.startOffset, end: span.end });
    }
  }
  // `data images/`: a path not in quotes.
  if (!atEnd && e.message.startsWith('expected a quoted string') && found.tokenType.name === 'Identifier') {
    return error('unexpected-token', `${e.message}; paths go in double quotes, e.g. ${keyword} "${found.image}"`, span);
  }
  // `lr fast`: the grammar read 'fast' as the unit of `lr UNIT RATE`, but a rate is what was meant.
  const before = tokens[tokens.indexOf(previous) - 1];
  if (atEnd && before?.image === 'lr' && previous.tokenType.name === 'Identifier' && !/^block\d+$/.test(previous.image)) {
    return error('unexpected-token', `expected a number after 'lr', found ${describeToken(previous)} (one block's own rate reads 'lr block4 1e-5')`, tokenSpan(previous));
  }
  // `clip 1`, `clip`: the mode goes first.
  if (previous.image === 'clip') {
    return error(atEnd ? 'missing-argument' : 'unexpected-token', `expected 'norm', 'value' or 'none' after 'clip', found ${atEnd ? 'the end of the statement' : describeToken(found)} (clip norm 1 keeps the gradients' global norm at most 1; clip value 0.5 each gradient within ±0.5)`, span);
  }
  // `unfreeze head`, `freeze until head`: the head is not a block of the base.
  if (!atEnd && found.image === 'head' && (keyword === 'phase' || keyword === 'freeze') && tokens.indexOf(found) > 1) {
    const message =
      keyword === 'freeze'
        ? "'freeze until head' would freeze the whole base: write 'freeze all' (the head always trains)"
        : "the head always trains; 'unfreeze' names blocks (block1..block5), quoted layers, or 'all'";
    return error('unexpected-token', message, span);
  }
  // `phase head ...`, `phase 2 ...`: a keyword or a number where the phase's name goes.
  if (!atEnd && keyword === 'phase' && tokens.indexOf(found) === 1 && (found.tokenType.name === 'NumberLiteral' || found.tokenType.name.startsWith('Kw_'))) {
    const what = found.tokenType.name === 'NumberLiteral' ? 'a number' : 'a word TL reserves';
    return error('unexpected-token', `a phase cannot be named '${found.image}' as written (it is ${what}); quote it, phase "${found.image}", or pick another name`, span);
  }
  // A word the statement does not take: name the statement's options and suggest the nearest.
  if (!atEnd && e.message.startsWith('expected the end of the statement')) {
    const scope = optionScope(keyword, tokens, found);
    const options = STATEMENT_OPTIONS[scope] ?? [];
    const list = options.length > 0 ? `${quoteList(options)} or the end of the statement` : 'the end of the statement';
    // `augment flip rotate 15`: 'rotate' was read as flip's argument, so the list needs its ','.
    const comma = keyword === 'augment' ? ` (ops are separated by ',': augment flip, rotate 15)` : '';
    // `optimizer adamw decay 0.01`, `wd 0.01`: weight decay, as other tools spell it.
    const decay = scope === 'optimizer' && /^(decay|wd)$/i.test(found.image) ? ` (weight decay reads 'optimizer ${tokens[1]?.image ?? 'adamw'} weight decay 0.01')` : '';
    return error(
      'unexpected-token',
      `unexpected ${describeToken(found).replace(/^the /, '')} in '${statementName(keyword)}'; expected ${list}${comma}${decay}${found.tokenType.name === 'Identifier' && !decay ? didYouMean(found.image, options) : ''}`,
      span,
    );
  }
  const where = e.message.includes(`after '${keyword}'`) ? '' : ` in '${statementName(keyword)}'`;
  return error(atEnd ? 'missing-argument' : 'unexpected-token', `${e.message}${where}`, span);
}

/** Options after `optimizer` / `schedule` belong to that setting rather than to the statement. */
function optionScope(keyword: string, tokens: IToken[], found: IToken): string {
  for (let i = tokens.indexOf(found) - 1; i > 0; i--) {
    const image = tokens[i]!.image;
    if (image === 'optimizer' || image === 'schedule') return keyword === 'phase' ? 'phase' : image;
  }
  return keyword;
}
