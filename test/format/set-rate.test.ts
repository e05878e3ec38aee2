/** Writing a search's suggestion into a script (src/format/set-rate.ts): only the rate changes, and the script then compiles to that rate. */
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeRate } from '../../src/cli/lr-find.ts';
import { setPhaseRate } from '../../src/format/set-rate.ts';

const rates = (source: string) => compile(source).plan!.phases.map((p) => [p.name, p.lr]);

describe('setPhaseRate', () => {
  const script = 'use tiny # base\nepochs 2; lr 1e-3 # head first\nphase ft unfreeze all lr block4 1e-5 lr 1e-4 epochs 1 # then all\nphase last epochs 1\n';

  it("replaces the phase's own rate, not a unit's, and keeps everything else as written", () => {
    const edited = setPhaseRate(script, 'ft', 2.4e-3).source!;
    expect(edited).toBe(script.replace('lr 1e-4', 'lr 2.4e-3'));
    expect(rates(edited)).toEqual([['warmup', 1e-3], ['ft', 2.4e-3], ['last', 2.4e-3]]);
    expect(setPhaseRate(script, 'warmup', 0.0151).source).toBe(script.replace('lr 1e-3', 'lr 1.5e-2'));
  });

  it('adds the rate where the phase has none: at the end of its statement, or above the first phase for the first', () => {
    expect(setPhaseRate(script, 'last', 5e-4).source).toBe(script.replace('phase last epochs 1', 'phase last epochs 1 lr 5e-4'));
    // A searched rate (lr auto) gives way to the number.
    expect(setPhaseRate('use tiny\nphase ft lr auto unfreeze all\n', 'ft', 2e-3).source).toBe('use tiny\nphase ft lr 2e-3 unfreeze all\n');
    expect(setPhaseRate('use tiny\nphase ft lr auto steps 50 unfreeze all\n', 'ft', 2e-3).source).toBe('use tiny\nphase ft lr 2e-3 unfreeze all\n');
    const bare = 'use tiny\ndata "x"\n\nphase ft unfreeze all\n';
    const first = setPhaseRate(bare, 'warmup', 3e-3).source!;
    expect(first).toBe('use tiny\ndata "x"\n\nlr 3e-3\nphase ft unfreeze all\n');
    expect(rates(first)).toEqual([['warmup', 3e-3], ['ft', 3e-3]]);
    expect(setPhaseRate('use tiny', 'warmup', 3e-3).source).toBe('use tiny\nlr 3e-3\n');
    // A phase without a name, by the plan's numbering.
    expect(setPhaseRate('use tiny\nphase unfreeze all\n', 'phase2', 1e-4).source).toBe('use tiny\nphase unfreeze all lr 1e-4\n');
  });

  it('tl lr-find --write leaves a file edited while the search ran as the user left it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tl-write-')), 'a.tl');
    writeFileSync(file, script);
    const stderr = process.stderr.write.bind(process.stderr);
    const said: string[] = [];
    process.stderr.write = ((chunk: string) => said.push(chunk) > 0) as typeof process.stderr.write;
    try {
      writeFileSync(file, `${script}# a note written meanwhile\n`);
      expect(writeRate(file, script, { phase: 'ft', suggested: 2e-3 })).toBe(1);
      expect(readFileSync(file, 'utf8')).toBe(`${script}# a note written meanwhile\n`);
      expect(said.join('')).toContain('it changed while the search ran');
      writeFileSync(file, script);
      expect(writeRate(file, script, { phase: 'ft', suggested: 2e-3 })).toBe(0);
      expect(readFileSync(file, 'utf8')).toBe(script.replace('lr 1e-4', 'lr 2e-3'));
    } finally {
      process.stderr.write = stderr;
    }
  });

  it('says why it writes nothing: no such phase, a script that does not parse, a rate out of range', () => {
    expect(setPhaseRate(script, 'fine', 1e-3)).toEqual({ error: "the script has no phase 'fine'; its phases are 'warmup', 'ft', 'last'" });
    expect(setPhaseRate('use tiny @', 'warmup', 1e-3)).toEqual({ error: 'the script does not parse; fix it first (tl check)' });
    expect(setPhaseRate(script, 'ft', 0).error).toMatch(/above 0/);
  });
});
