/**
 * Finding a job's checkpoint after a crash. The executor saves one by writing `checkpoint.tmp/`,
 * removing `checkpoint/` and renaming the first to the second (src/executor/checkpoint.ts); a
 * process killed between the removal and the rename leaves only the temporary folder, which is
 * complete, since its state.json is written last. Before a resume the service puts it in place, so a
 * kill at that moment costs no progress. (This belongs in the executor's loadCheckpoint; until it
 * moves there, the layout is mirrored here.)
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface CheckpointInfo {
  readonly phase: number;
  readonly epochsDone: number;
  readonly savedAt: string;
}

const complete = (dir: string) => existsSync(join(dir, 'state.json'));

/** Settles a half-swapped checkpoint under the executor's run folder; returns what it holds, or null. */
export function settleCheckpoint(runDir: string): CheckpointInfo | null {
  const dir = join(runDir, 'checkpoint');
  const tmp = `${dir}.tmp`;
  if (complete(tmp) && !complete(dir)) {
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  return complete(dir) ? (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as CheckpointInfo) : null;
}
