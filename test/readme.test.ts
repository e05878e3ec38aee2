import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../src/compile.ts';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('README', () => {
  it('shows examples/quickstart.tl as it is', () => {
    const body = readFileSync(join(root, 'examples/quickstart.tl'), 'utf8').split('\n').slice(1).join('\n');
    expect(readme).toContain(`# examples/quickstart.tl\n${body}`);
  });

  it("compiles every tl code block it shows", () => {
    const blocks = [...readme.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).filter((b) => /^\s*(#.*\n)*\s*use /m.test(b));
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) expect(compile(block).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });
});
