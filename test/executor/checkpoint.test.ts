import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { settleCheckpoint } from '../../src/executor/checkpoint.ts';

describe('settleCheckpoint', () => {
  const save = (dir: string, epochsDone: number) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ phase: 0, epochsDone, savedAt: 'then' }));
  };

  it('puts a complete checkpoint.tmp in place when a kill landed between the executor removing the old one and renaming the new one', () => {
    const run = mkdtempSync(join(tmpdir(), 'tl-ckpt-'));
    expect(settleCheckpoint(join(run, 'checkpoint'))).toBeNull();
    save(join(run, 'checkpoint.tmp'), 4);
    expect(settleCheckpoint(join(run, 'checkpoint'))).toMatchObject({ epochsDone: 4 });
    expect(settleCheckpoint(join(run, 'checkpoint'))).toMatchObject({ epochsDone: 4 });
    // A half-written tmp (no state.json yet) beside a complete checkpoint: the checkpoint stands.
    mkdirSync(join(run, 'checkpoint.tmp'));
    expect(settleCheckpoint(join(run, 'checkpoint'))).toMatchObject({ epochsDone: 4 });
  });
});
