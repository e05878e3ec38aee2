import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { format } from '../../src/format/format.ts';

const root = join(import.meta.dirname, '..', '..');
const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.tl'));

function stripOrigins(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripOrigins);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'origin').map(([k, v]) => [k, stripOrigins(v)]));
  return value;
}

describe('tl fmt', () => {
  for (const file of examples) {
    it(`${file}: idempotent, comments kept, same plan`, () => {
      const source = readFileSync(join(root, 'examples', file), 'utf8');
      const once = format(source).text!;
      expect(format(once).text).toBe(once);
      for (const comment of source.match(/#[^\n]*/g) ?? []) expect(once).toContain(comment.trimEnd());
      expect(stripOrigins(compile(once).plan)).toEqual(stripOrigins(compile(source).plan));
    });
  }

  it('puts one statement on a line with options in canonical order', () => {
    expect(format('use   resnet50 cut block4 input 96;freeze until block3  # keep\n\n\n\nphase lr 1e-4 unfreeze block4').text).toBe(
      'use resnet50 input 96 cut block4\nfreeze until block3  # keep\n\nphase unfreeze block4 lr 1e-4\n',
    );
  });

  it('keeps a unit rate with its unit, a block, the head or a quoted layer', () => {
    expect(format('use resnet50\nlr  head   3e-3\nphase lr "conv5_block1_out"  1e-5 unfreeze block5 lr 1e-4 lr block5 3e-5').text).toBe(
      'use resnet50\nlr head 3e-3\nphase unfreeze block5 lr "conv5_block1_out" 1e-5 lr 1e-4 lr block5 3e-5\n',
    );
  });

  it('writes the optimizer\'s options momentum first, then weight decay', () => {
    expect(format('use resnet50\noptimizer  sgd weight   decay 1e-4 momentum 0.9\nphase optimizer adamw').text).toBe(
      'use resnet50\noptimizer sgd momentum 0.9 weight decay 1e-4\nphase optimizer adamw\n',
    );
    expect(format('use resnet50\ndata "x"  balance split 0.1\nlabel   smoothing 0.1').text).toBe(
      'use resnet50\ndata "x" split 0.1 balance\nlabel smoothing 0.1\n',
    );
    expect(format('use resnet50\nevaluate  "t"   tta').text).toBe(
      'use resnet50\nevaluate "t" tta\n',
    );
    expect(format('use resnet50\nclip   norm  1.0\nphase  clip none lr 1e-4').text).toBe(
      'use resnet50\nclip norm 1.0\nphase clip none lr 1e-4\n',
    );
    expect(format('use resnet50\nlr   auto\nphase lr  auto unfreeze block5').text).toBe('use resnet50\nlr auto\nphase unfreeze block5 lr auto\n');
    expect(format('use resnet50\nphase lr auto   steps  50').text).toBe('use resnet50\nphase lr auto steps 50\n');
  });

  it('refuses to format a script it cannot parse, and says why', () => {
    const r = format('use tiny\ndata "unterminated\n');
    expect(r.text).toBeUndefined();
    expect(r.diagnostics.map((d) => d.code)).toEqual(['unterminated-string']);
  });

  it('keeps string escapes', () => {
    expect(format('data "a \\"b\\" c"').text).toBe('data "a \\"b\\" c"\n');
  });
});
