/**
 * Checkpoints: every weight of the network, and everything else an uninterrupted run would hold in
 * memory at that point (where the schedule stood, the optimizers' moments, the random generator,
 * early stopping's best epoch and weights, the place within an epoch when a cancel saved it), so a
 * resumed run continues as if it had never stopped.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { RngState } from './augment/index.ts';
import type { StopperState } from './early-stop.ts';
import type { EpochMetrics } from './events.ts';
import { optimizerState, type NamedTensor } from './optimizers.ts';
import { readTfjsModel, saveToDirectory } from './zoo/tfjs-files.ts';

export interface CheckpointState {
  /** 0-based phase index and the number of its epochs done. */
  readonly phase: number;
  readonly epochsDone: number;
  readonly savedAt: string;
  /** The rest of the run's state; absent in checkpoints written before TL kept it (they resume from the weights alone). */
  readonly run?: RunState;
}

export interface RunState {
  /** The data path's generator (batch order, augmentation, adaptation draws). */
  readonly rng: RngState;
  /** Each Dropout layer's training calls so far. */
  readonly dropoutCalls: readonly number[];
  readonly stopper: StopperState;
  /** `checkpoint best`'s best score so far. */
  readonly checkpointBest: number | null;
  /** The last finished epoch's metrics. */
  readonly last: EpochMetrics | null;
  /** Saved within an epoch (a cancel): its batches done, the generator as the epoch began (its batch order), their sums. */
  readonly epoch: EpochSoFar | null;
  /** The adaptation's `state()` (self-training's labels, where the target passes stand); absent in checkpoints written before TL kept it. */
  readonly adapt?: unknown;
  /** The rates `lr auto` found, by phase index (absent in checkpoints written before it). */
  readonly rates?: Readonly<Record<number, number>>;
}

export interface EpochSoFar {
  readonly batches: number;
  readonly rngAtStart: RngState;
  readonly lossSum: number;
  readonly correct: number;
  readonly extra: { readonly loss: number; readonly domainHits: number; readonly domainRows: number };
  /** `clip norm`: the epoch's gradient norms so far (absent in checkpoints written before TL kept them). */
  readonly norms?: { readonly sum: number; readonly clipped: number; readonly steps: number };
}

/** What a checkpoint holds besides the network's weights and its state. */
export interface CheckpointExtras {
  /** The phase's optimizers, in their order. */
  readonly optimizers: readonly tf.Optimizer[];
  /** Early stopping's best weights, in the model's order (where the plan restores them). */
  readonly bestWeights: readonly tf.Tensor[] | null;
  /** Variables that train beside the network's (DANN's domain classifier), in their order. */
  readonly adaptVariables: readonly tf.Variable[];
}

export interface LoadedCheckpoint {
  readonly state: CheckpointState;
  /** Each optimizer's `getWeights()`, in order; empty where the checkpoint has none. */
  readonly optimizers: NamedTensor[][];
  /** Early stopping's best weights by name, for `inModelOrder` once the phase set what trains. */
  readonly bestWeights: tf.NamedTensorMap | null;
  /** The adaptation's own variables, in their order; empty where the checkpoint has none. */
  readonly adaptVariables: tf.Tensor[];
}

export async function saveCheckpoint(model: tf.LayersModel, dir: string, state: CheckpointState, extras: CheckpointExtras): Promise<string> {
  // Write beside, then swap, so a crash mid-save never leaves a half checkpoint.
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await model.save(saveToDirectory(tmp)); // makes the folder
  const optimizers = await Promise.all(extras.optimizers.map(optimizerState));
  await writeTensors(tmp, 'optimizers', optimizers.flatMap((weights, i) => weights.map((w) => ({ name: `${i}:${w.name}`, tensor: w.tensor }))));
  tf.dispose(optimizers.flat().flatMap((w) => (w.tensor instanceof tf.Variable ? [] : [w.tensor]))); // the iteration counts getWeights made
  if (extras.bestWeights) await writeTensors(tmp, 'best', extras.bestWeights.map((tensor, i) => ({ name: model.weights[i]!.originalName, tensor })));
  if (extras.adaptVariables.length > 0) await writeTensors(tmp, 'adapt', extras.adaptVariables.map((tensor, i) => ({ name: String(i), tensor })));
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

/** Loads the weights into `model` and returns the rest, or null where there is no checkpoint. */
export async function loadCheckpoint(model: tf.LayersModel, dir: string): Promise<LoadedCheckpoint | null> {
  const state = settleCheckpoint(dir);
  if (!state) return null;
  const artifacts = await readTfjsModel(join(dir, 'model.json'));
  const data = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const decoded = tf.io.decodeWeights(data, artifacts.weightSpecs ?? []);
  try {
    model.setWeights(inModelOrder(model, decoded, `checkpoint ${dir}`));
  } finally {
    tf.dispose(Object.values(decoded));
  }
  const optimizers: NamedTensor[][] = [];
  for (const [key, tensor] of Object.entries(readTensors(dir, 'optimizers') ?? {})) {
    const at = key.indexOf(':');
    (optimizers[Number(key.slice(0, at))] ??= []).push({ name: key.slice(at + 1), tensor });
  }
  const adapt = readTensors(dir, 'adapt') ?? {};
  return { state, optimizers, bestWeights: readTensors(dir, 'best'), adaptVariables: Object.keys(adapt).map((i) => adapt[i]!) };
}

/**
 * `named`'s tensors in the order of `model.weights`, matched by name: tfjs lists a model's
 * trainable weights first, so the order depends on what was frozen when they were saved.
 */
export function inModelOrder(model: tf.LayersModel, named: tf.NamedTensorMap, what: string): tf.Tensor[] {
  const missing = model.weights.filter((w) => !named[w.originalName]).map((w) => w.originalName);
  const count = Object.keys(named).length;
  if (missing.length > 0 || count !== model.weights.length) {
    const lacks = missing.length > 0 ? `; it lacks ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}` : '';
    throw new Error(`${what} holds ${count} weights, the network has ${model.weights.length}${lacks}; was the script changed?`);
  }
  return model.weights.map((w) => named[w.originalName]!);
}

async function writeTensors(dir: string, name: string, tensors: NamedTensor[]): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  await writeFile(join(dir, `${name}.bin`), new Uint8Array(data as ArrayBuffer));
  await writeFile(join(dir, `${name}.json`), JSON.stringify(specs));
}

function readTensors(dir: string, name: string): tf.NamedTensorMap | null {
  if (!existsSync(join(dir, `${name}.json`))) return null;
  const specs = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as tf.io.WeightsManifestEntry[];
  const bytes = readFileSync(join(dir, `${name}.bin`));
  return tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), specs);
}
