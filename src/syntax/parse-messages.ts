/** Turns chevrotain's recognition failures into TL's "expected X, found Y" sentences. */
import type { IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';

export function describeToken(t: IToken): string {
  switch (t.tokenType.name) {
    case 'EOF':
      return 'the end of the statement';
    case 'NumberLiteral':
      return `the number ${t.image}`;
    case 'StringLiteral':
      return `the string ${t.image.length > 40 ? `${t.image.slice(0, 37)}..."` : t.image}`;
    case 'Comma':
      return "','";
    default:
      return `'${t.image.length > 40 ? `${t.image.slice(0, 37)}...` : t.image}'`;
  }
}

function label(t: TokenType): string {
  if (t.name === 'EOF') return 'the end of the statement';
  return t.LABEL ?? t.name;
}

function alternatives(paths: TokenType[][][] | TokenType[][]): string {
  const firsts = new Set<string>();
  for (const p of paths.flat(1) as (TokenType | TokenType[])[]) {
    const first = Array.isArray(p) ? p[0] : p;
    if (first) firsts.add(label(first));
  }
  const list = [...firsts];
  if (list.length <= 1) return list[0] ?? 'something else';
  return `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
}

function after(previous: IToken): string {
  return previous.image ? ` after '${previous.image}'` : '';
}

export const messageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous }) {
    if (expected.name === 'EOF') return `expected the end of the statement, found ${describeToken(actual)}`;
    return `expected ${label(expected)}${after(previous)}, found ${describeToken(actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected the end of the statement, found ${describeToken(firstRedundant)}`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, previous }) {
    const found = actual[0];
    return `expected ${alternatives(expectedPathsPerAlt)}${after(previous)}, found ${found ? describeToken(found) : 'nothing'}`;
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual, previous }) {
    const found = actual[0];
    return `expected ${alternatives(expectedIterationPaths)}${after(previous)}, found ${found ? describeToken(found) : 'nothing'}`;
  },
};
