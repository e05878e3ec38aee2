/**
 * How the executor runs its training steps: each as it is, or, where the backend can record a step
 * and replay it (webgpu/step-graph.ts), replayed once it repeats.
 */
import type * as tf from '@tensorflow/tfjs';

/** The result of one step, read when wanted: its output's values. */
export interface StepOutput {
  read(): Promise<Float32Array>;
  /** Drops the output unread (on an error path). */
  discard(): void;
}

export interface StepRunner {
  /**
   * Runs `body` as a step of `key` on `feeds` (tensors the step reads and does not write), or
   * replays it with these feeds where the backend recorded it. `body` returns one float32 tensor,
   * which the runner reads and disposes. A null key always runs `body` as it is. `replayed` is
   * called when the step was replayed, for what `body` does in JavaScript beside its commands.
   */
  run(key: string | null, feeds: readonly tf.Tensor[], body: () => tf.Tensor, replayed?: () => void): StepOutput;
  /**
   * Where the runner records and replays: its steps so far, each run as it is, recorded or
   * replayed, and why the last step not replayed was not.
   */
  readonly stats?: { readonly ran: number; readonly recorded: number; readonly replayed: number; readonly why: string | null };
  /** Drops whatever the runner keeps (recorded steps and their buffers). */
  dispose(): void;
}

/** A tensor's values, read when asked for; the tensor is disposed then. */
export function tensorOutput(out: tf.Tensor): StepOutput {
  return {
    async read() {
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    },
    discard: () => out.dispose(),
  };
}

/** Every step run as it is. */
export const plainSteps: StepRunner = {
  run: (_key, _feeds, body) => tensorOutput(body()),
  dispose() {},
};
