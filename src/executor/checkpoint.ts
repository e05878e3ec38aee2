/** Checkpoints: every weight of the network plus where the schedule stood, so a run can resume mid-phase. */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readTfjsModel, saveToDirectory } from './zoo/tfjs-files.ts';

export interface CheckpointState {
  /** 0-based phase index and the number of epochs of it already done. */
  readonly phase: number;
  readonly epochsDone: number;
  readonly savedAt: string;
}

export async function saveCheckpoint(model: tf.LayersModel, dir: string, state: CheckpointState): Promise<string> {
  // Write beside, then swap, so a crash mid-save never leaves a half checkpoint.
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await model.save(saveToDirectory(tmp));
  await writeFile(join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return dir;
}

const complete = (dir: string) => existsSync(join(dir, 'state.json'));

/**
 * A process killed between the removal and the rename in saveCheckpoint leaves only `<dir>.tmp`,
 * which is complete (its state.json is written last): put it in place. Returns the state, or null.
 */
export function settleCheckpoint(dir: string): CheckpointState | null {
  const tmp = `${dir}.tmp`;
  if (complete(tmp) && !complete(dir)) {
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  return complete(dir) ? (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as CheckpointState) : null;
}

export async function loadCheckpoint(model: tf.LayersModel, dir: string): Promise<CheckpointState | null> {
  const state = settleCheckpoint(dir);
  if (!state) return null;
  const artifacts = await readTfjsModel(join(dir, 'model.json'));
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const decoded = tf.io.decodeWeights(data, specs);
  try {
    // By name: tfjs lists a model's trainable weights first, so the order depends on what was frozen.
    const missing = model.weights.filter((w) => !decoded[w.originalName]).map((w) => w.originalName);
    if (missing.length > 0 || specs.length !== model.weights.length) {
      const lacks = missing.length > 0 ? `; it lacks ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}` : '';
      throw new Error(`checkpoint ${dir} holds ${specs.length} weights, the network has ${model.weights.length}${lacks}; was the script changed?`);
    }
    model.setWeights(model.weights.map((w) => decoded[w.originalName]!));
  } finally {
    tf.dispose(Object.values(decoded));
  }
  return state;
}
