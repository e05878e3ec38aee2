import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { formatDiagnostics } from '../../src/diagnostics/print.ts';
import { Plan } from '../../src/plan/schema.ts';

const root = join(import.meta.dirname, '..', '..');
const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.tl'));
const errorCases = readdirSync(join(root, 'test/golden/errors')).filter((f) => f.endsWith('.tl'));

describe('examples compile to their golden plans', () => {
  it('has at least six examples', () => expect(examples.length).toBeGreaterThanOrEqual(6));
  for (const file of examples) {
    it(file, async () => {
      const source = readFileSync(join(root, 'examples', file), 'utf8');
      const { plan, diagnostics } = compile(source);
      expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(Plan.safeParse(plan).success).toBe(true);
      await expect(`${JSON.stringify(plan, null, 2)}\n`).toMatchFileSnapshot(join(root, 'test/golden', `${basename(file, '.tl')}.plan.json`));
    });
  }
});

describe('broken scripts give their golden diagnostics', () => {
  for (const file of errorCases) {
    it(file, async () => {
      const source = readFileSync(join(root, 'test/golden/errors', file), 'utf8');
      const { plan, diagnostics } = compile(source);
      expect(plan).toBeUndefined();
      await expect(`${formatDiagnostics(diagnostics, { file, source })}\n`).toMatchFileSnapshot(
        join(root, 'test/golden/errors', `${basename(file, '.tl')}.diagnostics.txt`),
      );
    });
  }
});
