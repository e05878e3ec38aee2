import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { formatDiagnostics } from '../../src/diagnostics/print.ts';
import { format } from '../../src/format/format.ts';
import { Plan } from '../../src/plan/schema.ts';
import { createRng } from '../../src/executor/augment/rng.ts';

/** The project's seeded PRNG, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  const r = createRng(seed);
  return () => r.next();
}

/** Whatever the input, the compiler returns diagnostics with spans inside the source, or a valid plan. */
function survives(source: string): void {
  const result = compile(source);
  for (const d of result.diagnostics) {
    expect(d.span.start).toBeGreaterThanOrEqual(0);
    expect(d.span.end).toBeLessThanOrEqual(source.length);
    expect(d.span.start).toBeLessThanOrEqual(d.span.end);
    expect(d.message.length).toBeGreaterThan(0);
  }
  if (result.plan) expect(Plan.safeParse(result.plan).success).toBe(true);
  formatDiagnostics(result.diagnostics, { file: 'fuzz.tl', source });
  format(source);
}

const root = join(import.meta.dirname, '..', '..');
const corpus = readdirSync(join(root, 'examples'))
  .filter((f) => f.endsWith('.tl'))
  .map((f) => readFileSync(join(root, 'examples', f), 'utf8'));
const words = corpus.join(' ').split(/[\s;,]+/).filter(Boolean);

describe('no input crashes the compiler', () => {
  it('random bytes', () => {
    const next = rng(1);
    for (let i = 0; i < 300; i++) {
      const bytes = Array.from({ length: Math.floor(next() * 200) }, () => String.fromCharCode(Math.floor(next() * 256)));
      survives(bytes.join(''));
    }
  });

  it('NUL bytes and control characters', () => {
    survives('\0\0\0use\0tiny\0');
    survives('use tiny\r\n\x1b[31m;;;\t\v\f\n');
    expect(compile('use tiny\0').diagnostics.map((d) => d.code)).toContain('stray-character');
  });

  it('1 MB of junk is answered quickly with a bounded number of diagnostics', () => {
    const next = rng(2);
    const junk = Array.from({ length: 1 << 20 }, () => '@$%^&`~!{}[]<>?'[Math.floor(next() * 15)]).join('');
    const started = performance.now();
    const { diagnostics } = compile(junk);
    expect(diagnostics.length).toBeLessThanOrEqual(60);
    expect(diagnostics.map((d) => d.code)).toContain('stray-character');
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('stops reporting after a bounded number of syntax errors', () => {
    const { diagnostics } = compile('lr fast\n'.repeat(10_000));
    const syntax = diagnostics.filter((d) => d.code !== 'missing-use');
    expect(syntax.length).toBe(51);
    expect(syntax.at(-1)?.code).toBe('too-many-errors');
  });

  it('a script too long for push(...list): 200,000 valid statements, each but the first a duplicate', () => {
    const { diagnostics } = compile(`use tiny\n${'epochs 1\n'.repeat(200_000)}`);
    expect(diagnostics.filter((d) => d.severity === 'error')).toHaveLength(199_999);
  });

  it('deep nonsense: long lines of keywords, commas and strings', () => {
    survives('phase '.repeat(5000));
    survives(`augment ${'flip,'.repeat(10_000)}`);
    survives(`use "${'a'.repeat(100_000)}`);
    survives('unfreeze , , , all all "x" 1e999 -0 .5e-3 ;;;;\n'.repeat(500));
  });

  it('shuffled and mutated examples', () => {
    const next = rng(3);
    for (let i = 0; i < 500; i++) {
      const n = 1 + Math.floor(next() * 30);
      const parts = Array.from({ length: n }, () => {
        const r = next();
        if (r < 0.1) return ';';
        if (r < 0.2) return '\n';
        if (r < 0.25) return '"';
        if (r < 0.3) return String(next() * 10 ** Math.floor(next() * 8 - 4));
        return words[Math.floor(next() * words.length)]!;
      });
      survives(parts.join(' '));
    }
    for (const example of corpus) {
      for (let cut = 0; cut < example.length; cut += 7) survives(example.slice(0, cut));
    }
  });
});
