import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { parsePlan } from '../../src/plan/parse.ts';
import { root } from '../service/helpers.ts';

describe('parsePlan', () => {
  it('reads back every plan the compiler writes, unchanged', () => {
    const golden = readdirSync(join(root, 'test/golden')).filter((f) => f.endsWith('.plan.json'));
    expect(golden.length).toBeGreaterThan(5);
    for (const f of golden) {
      const plan = JSON.parse(readFileSync(join(root, 'test/golden', f), 'utf8')) as unknown;
      expect(parsePlan(plan), f).toEqual({ plan });
    }
  });

  it('fills in the fields added since an old plan was written', () => {
    const plan = compile('use tiny\ndata "x"\nevaluate "y"\nphase lr auto unfreeze all').plan!;
    const old = JSON.parse(JSON.stringify(plan)) as { labelSmoothing?: number; evaluate: { format?: string }; phases: { clip?: unknown; findLr?: boolean; searchSteps?: number }[] };
    delete old.labelSmoothing;
    delete old.evaluate.format;
    for (const p of old.phases) [delete p.clip, delete p.findLr, delete p.searchSteps];
    const read = parsePlan(old).plan!;
    expect(read.labelSmoothing).toBe(0);
    // Test sets were class folders before csv and IDX ones.
    expect(read.evaluate!.format).toBe('folder');
    expect(read.phases.map((p) => [p.clip, p.findLr, p.searchSteps])).toEqual([[null, false, 100], [null, false, 100]]);
  });

  it('names each field out of place, and a version it does not read', () => {
    const plan = JSON.parse(JSON.stringify(compile('use tiny\ndata "x"\nphase lr 1e-4 unfreeze all').plan)) as { phases: { lr: unknown; batch: unknown }[] };
    plan.phases[1]!.lr = 'fast';
    plan.phases[0]!.batch = -2;
    expect(parsePlan(plan).problems).toEqual(['phases[0].batch: Too small: expected number to be >0', 'phases[1].lr: expected number, received string']);
    expect(parsePlan({ ...plan, version: 2 }).problems).toEqual(['version: this TL reads plans of version 1, not 2']);
    expect(parsePlan('use tiny').problems).toEqual(['expected object, received string']);
    expect(parsePlan(null).problems).toEqual(['expected object, received null']);
  });
});
