/**
 * Training steps (and inference batches) recorded once and replayed: what a CUDA graph is to
 * PyTorch, for tfjs on WebGPU.
 *
 * After warm-up, a training step on webgpu queues the same commands as the step before, on the
 * same buffers: the pool hands out buffers in an order that repeats (buffer-pool.ts), the
 * optimizers and the BatchNorms write their variables in place (in-place.ts), the learning rate
 * is a value in a buffer (../fused-optimizers.ts), and the uniform and bind group caches give the
 * same blocks and groups. What changes from step to step is the batch. Yet queueing those commands
 * took the host 30-50 ms a MobileNetV2 step on the GPU machine (tfjs's engine, the layers, the
 * gradient tape, TL's kernels and the backend's bookkeeping for about 600 dispatches), more than
 * the GPU's own 29 ms: the host set the pace.
 *
 * So a step is recorded at the level of the device: every `writeBuffer`, compute pass, pipeline,
 * bind group, dispatch, copy and submit between its start and its end. Two steps recorded one
 * after the other must queue the same commands on the same buffers, apart from the batch (the
 * `feeds`, tensors made before the step); then the second becomes the step's graph, and the next
 * steps are replayed: the new batch copied into the feeds' buffers and the commands queued again,
 * in one pass and one submit, with none of the JavaScript that made them. A step whose commands
 * vary (a number drawn in JavaScript, a uniform that moves, a read of a value in the middle)
 * never records twice alike and just runs; a step whose structure the caller knows to change
 * (another batch size) has another key.
 *
 * What a replay relies on, and checks before each replay:
 * - every buffer the graph binds stays its own: pinned in the pool (buffer-pool.ts), so none is
 *   handed to another tensor, even once its tensor is gone;
 * - every variable the graph binds still has the data it had when recorded (an `assign`, a restored
 *   checkpoint or a disposal would have changed it), and each one the step writes in place is still
 *   the only holder of its buffer with no read of it on the way (in-place.ts, as for any write in
 *   place); their values cached on the CPU are dropped, as a write in place does;
 * - no other tensor the graph reads that outlived its recording (an optimizer's constant, a fold's
 *   weights) has been disposed since: the pool says when one of their buffers comes back.
 * When a check fails, the graph is dropped and the step runs as it is (and may record again).
 */
import * as tf from '@tensorflow/tfjs';
import { gpuBufferOf, submitPending, type WebGPUBackend } from './backend.ts';
import { bufferPins, type BufferPins } from './buffer-pool.ts';
import { dropKeptSums } from './conv2d-backprop-filter.ts';
import { noteWrittenInPlace, ownsItsBuffer, watchWritesInPlace } from './in-place.ts';
import { tensorOutput, type StepOutput, type StepRunner } from '../steps.ts';

/** The parts of the backend this touches (private in tfjs's typings). */
interface Internals {
  readonly device: GPUDevice;
  readonly queue: GPUQueue;
  readonly tensorMap: { get(dataId: unknown): { resource: unknown } | undefined };
  readonly activeTimers: unknown[] | null;
}

/** One bound buffer range. */
interface Range {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly size: number;
}

/** One command, in the order the step queued it. */
type Op =
  | { readonly kind: 'write'; readonly buffer: GPUBuffer; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly kind: 'pass' }
  | { readonly kind: 'pipeline'; readonly pipeline: GPUComputePipeline }
  | { readonly kind: 'bind'; readonly index: number; readonly group: GPUBindGroup; readonly ranges: readonly Range[] }
  | { readonly kind: 'dispatch'; readonly x: number; readonly y: number; readonly z: number }
  | { readonly kind: 'end' }
  | { readonly kind: 'copy'; readonly from: GPUBuffer; readonly fromOffset: number; readonly to: GPUBuffer; readonly toOffset: number; readonly size: number }
  | { readonly kind: 'submit' };

/** A recorded step: its commands, its feeds' and its output's buffers, the variables it wrote in place. */
interface Recording {
  readonly ops: Op[];
  readonly feeds: GPUBuffer[];
  readonly output: Range;
  readonly written: Set<tf.Variable>;
  /** Why this step cannot be replayed, whatever the next one does. */
  readonly unfit: string | null;
}

export interface StepGraphStats {
  /** Steps run as they are, recorded, and replayed. */
  readonly ran: number;
  readonly recorded: number;
  readonly replayed: number;
  /** Graphs made, and dropped because a check failed before a replay. */
  readonly graphs: number;
  readonly dropped: number;
  /** The last reason a step could not be recorded or replayed, for logs and benchmarks. */
  readonly why: string | null;
  /** What the last graph made replays: its dispatches, its writes of values and its submits. */
  readonly last: { readonly dispatches: number; readonly writes: number; readonly submits: number } | null;
}

/** A StepRunner that records and replays (its dispose drops every graph and unpins its buffers). */
export interface StepGraphs extends StepRunner {
  readonly stats: StepGraphStats;
}

/** Steps of a key run before the first is recorded: the caches and the pool settle meanwhile. */
const WARM_UP = 2;
/** Recordings of a key compared before it is given up as one that varies. */
const ATTEMPTS = 4;

/** What a key has come to: steps seen, its last recording, its graph, recordings that differed. */
interface KeyState {
  seen: number;
  last: Recording | null;
  graph: Graph | null;
  attempts: number;
}

/**
 * Drops a key's graph, if any. The pipelines and caches are warm, so its next step records at once,
 * and is compared with the graph's own recording: where it queues the same (the pool handed out the
 * same buffers again, as it does after an epoch's smaller batch), it is the key's graph at once.
 */
function drop(state: KeyState): void {
  if (state.graph === null) return;
  state.graph.dispose();
  Object.assign(state, { seen: WARM_UP, last: state.graph.recording, graph: null, attempts: 0 });
}

/** Step graphs on `backend`, or undefined where its pool is not TL's ordered one (no pins). */
export function stepGraphs(backend: WebGPUBackend): StepGraphs | undefined {
  const pins = bufferPins(backend);
  if (pins === undefined) return undefined;
  const b = backend as unknown as Internals;
  const keys = new Map<string, KeyState>();
  const stats = { ran: 0, recorded: 0, replayed: 0, graphs: 0, dropped: 0, why: null as string | null, last: null as StepGraphStats['last'] };

  // Read-back buffers not in use, by size.
  const staging = new Map<number, GPUBuffer[]>();
  /** Copies `output` to a read-back buffer, after everything queued so far; the read maps it. */
  const readBack = (output: Range, encoder = b.device.createCommandEncoder()): StepOutput => {
    let list = staging.get(output.size);
    if (list === undefined) staging.set(output.size, (list = []));
    const buffer = list.pop() ?? b.device.createBuffer({ size: output.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(output.buffer, output.offset, buffer, 0, output.size);
    b.queue.submit([encoder.finish()]);
    return {
      async read() {
        await buffer.mapAsync(GPUMapMode.READ);
        const values = new Float32Array(buffer.getMappedRange().slice(0));
        buffer.unmap();
        list.push(buffer);
        return values;
      },
      // Unmapped, it can take the next copy: that one is queued after this one.
      discard: () => list.push(buffer),
    };
  };

  const plain = (body: () => tf.Tensor): StepOutput => {
    stats.ran++;
    const out = body();
    dropKeptSums();
    return tensorOutput(out);
  };

  return {
    stats,
    run(key, feeds, body, replayed) {
      if (b.activeTimers != null) return plain(body);
      if (key === null) {
        // A step of another shape (an epoch's last, smaller batch): the graphs' buffers go back to
        // the pool first, for it to take, rather than new ones beside them (a GPU's memory is
        // finite: two working sets where one did before). The next full step records again.
        for (const state of keys.values()) drop(state);
        return plain(body);
      }
      let state = keys.get(key);
      if (state === undefined) keys.set(key, (state = { seen: 0, last: null, graph: null, attempts: 0 }));
      if (state.graph !== null) {
        const failed = state.graph.check();
        if (failed === null) {
          stats.replayed++;
          const output = state.graph.replay(feeds);
          replayed?.();
          return output;
        }
        stats.why = failed;
        stats.dropped++;
        drop(state);
      }
      state.seen++;
      if (state.seen <= WARM_UP || state.attempts >= ATTEMPTS) return plain(body);
      stats.recorded++;
      const recording = record(backend, feeds, body);
      const last = state.last;
      state.last = recording;
      const differs = recording.unfit ?? (last === null ? 'first recording' : difference(last, recording));
      if (differs === null) {
        state.graph = new Graph(backend, pins, recording, readBack);
        stats.last = state.graph.counts();
        state.last = null;
        stats.graphs++;
      } else if (last !== null || recording.unfit !== null) {
        state.attempts++;
        stats.why = differs;
      }
      return readBack(recording.output);
    },
    dispose() {
      for (const state of keys.values()) state.graph?.dispose();
      keys.clear();
      for (const list of staging.values()) for (const s of list.splice(0)) s.destroy();
    },
  };
}

/**
 * Runs `body` and records the commands it queues at the device: the methods of the device, its
 * queue and each encoder and pass made meanwhile are wrapped on those objects for the duration.
 * The output is disposed inside the step; its values stay in the recording's output buffer until
 * the next command is queued, and the caller copies them out (stepGraphs' readBack).
 */
function record(backend: WebGPUBackend, feeds: readonly tf.Tensor[], body: () => tf.Tensor): Recording {
  const feedBuffers = feeds.map((t) => gpuBufferOf(backend, t));
  submitPending(backend);
  const ops: Op[] = [];
  const written = new Set<tf.Variable>();
  let unfit: string | null = null;
  const groups = new Map<GPUBindGroup, readonly Range[]>();
  const { device, queue } = backend as unknown as Internals;
  const own = { createBindGroup: device.createBindGroup, createCommandEncoder: device.createCommandEncoder, writeBuffer: queue.writeBuffer, submit: queue.submit };

  device.createBindGroup = function (descriptor: GPUBindGroupDescriptor): GPUBindGroup {
    const group = own.createBindGroup.call(device, descriptor);
    const ranges: Range[] = [];
    for (const entry of descriptor.entries as readonly GPUBindGroupEntry[]) {
      const resource = entry.resource as Partial<GPUBufferBinding>;
      if (resource.buffer === undefined) unfit ??= 'a bind group binds something other than a buffer';
      else ranges[entry.binding] = { buffer: resource.buffer, offset: resource.offset ?? 0, size: resource.size ?? resource.buffer.size - (resource.offset ?? 0) };
    }
    groups.set(group, ranges);
    return group;
  };
  device.createCommandEncoder = function (descriptor?: GPUCommandEncoderDescriptor): GPUCommandEncoder {
    const encoder = own.createCommandEncoder.call(device, descriptor);
    const beginComputePass = encoder.beginComputePass;
    const copyBufferToBuffer = encoder.copyBufferToBuffer;
    encoder.beginComputePass = function (passDescriptor?: GPUComputePassDescriptor): GPUComputePassEncoder {
      if (passDescriptor?.timestampWrites !== undefined) unfit ??= 'the step is timed';
      const pass = beginComputePass.call(encoder, passDescriptor);
      ops.push({ kind: 'pass' });
      const { setPipeline, setBindGroup, dispatchWorkgroups, end } = pass;
      pass.setPipeline = (pipeline: GPUComputePipeline) => {
        ops.push({ kind: 'pipeline', pipeline });
        setPipeline.call(pass, pipeline);
      };
      pass.setBindGroup = ((index: number, group: GPUBindGroup) => {
        const ranges = groups.get(group);
        if (ranges === undefined) unfit ??= 'a bind group made before the step';
        ops.push({ kind: 'bind', index, group, ranges: ranges ?? [] });
        (setBindGroup as (i: number, g: GPUBindGroup) => void).call(pass, index, group);
      }) as GPUComputePassEncoder['setBindGroup'];
      pass.dispatchWorkgroups = (x: number, y = 1, z = 1) => {
        ops.push({ kind: 'dispatch', x, y, z });
        dispatchWorkgroups.call(pass, x, y, z);
      };
      pass.end = () => {
        ops.push({ kind: 'end' });
        end.call(pass);
      };
      return pass;
    };
    encoder.copyBufferToBuffer = ((from: GPUBuffer, fromOffset: number, to: GPUBuffer, toOffset: number, size: number) => {
      if ((to.usage & GPUBufferUsage.MAP_READ) !== 0) unfit ??= 'the step reads a value back';
      ops.push({ kind: 'copy', from, fromOffset, to, toOffset, size });
      copyBufferToBuffer.call(encoder, from, fromOffset, to, toOffset, size);
    }) as GPUCommandEncoder['copyBufferToBuffer'];
    return encoder;
  };
  queue.writeBuffer = function (buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number): void {
    ops.push({ kind: 'write', buffer, offset, bytes: bytesOf(data, dataOffset, size) });
    own.writeBuffer.call(queue, buffer, offset, data as BufferSource, dataOffset, size);
  } as GPUQueue['writeBuffer'];
  queue.submit = function (buffers: Iterable<GPUCommandBuffer>): undefined {
    ops.push({ kind: 'submit' });
    return own.submit.call(queue, buffers);
  };
  watchWritesInPlace((v) => written.add(v));

  try {
    const out = body();
    dropKeptSums();
    if (out.dtype !== 'float32') throw new Error(`step-graph: a step's output must be float32, not ${out.dtype}`);
    const output = { buffer: gpuBufferOf(backend, out), offset: 0, size: out.size * 4 };
    // Disposed inside the step, so that its buffer goes back to the pool at the step's last submit
    // and the next step gets the same one: the caller reads a copy (stepGraphs' readBack).
    out.dispose();
    submitPending(backend);
    return { ops, feeds: feedBuffers, output, written, unfit };
  } finally {
    watchWritesInPlace(null);
    Object.assign(device, { createBindGroup: own.createBindGroup, createCommandEncoder: own.createCommandEncoder });
    Object.assign(queue, { writeBuffer: own.writeBuffer, submit: own.submit });
  }
}

/** A copy of the bytes `writeBuffer` takes from `data` (offsets and size in elements for a typed array, as WebGPU reads them). */
function bytesOf(data: BufferSource | SharedArrayBuffer, dataOffset = 0, size?: number): Uint8Array {
  if (ArrayBuffer.isView(data)) {
    const per = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    const count = size ?? data.byteLength / per - dataOffset;
    return new Uint8Array(data.buffer, data.byteOffset + dataOffset * per, count * per).slice();
  }
  return new Uint8Array(data as ArrayBuffer, dataOffset, size ?? (data as ArrayBuffer).byteLength - dataOffset).slice();
}

/** Why `b` does not queue what `a` did, the feeds aside, or null when it does. */
function difference(a: Recording, b: Recording): string | null {
  if (a.ops.length !== b.ops.length) return `a step queued ${b.ops.length} commands, the one before ${a.ops.length}`;
  const feeds = new Map(a.feeds.map((f, i) => [f, b.feeds[i]!]));
  const same = (x: GPUBuffer, y: GPUBuffer) => (feeds.get(x) ?? x) === y;
  if (a.output.buffer !== b.output.buffer) return 'the output is in another buffer';
  for (let i = 0; i < a.ops.length; i++) {
    const x = a.ops[i]!;
    const y = b.ops[i]!;
    const at = `command ${i} (${x.kind})`;
    if (x.kind !== y.kind) return `${at}: now a ${y.kind}`;
    switch (x.kind) {
      case 'write': {
        const w = y as typeof x;
        if (!same(x.buffer, w.buffer) || x.offset !== w.offset) return `${at}: another buffer`;
        if (x.bytes.length !== w.bytes.length || x.bytes.some((v, j) => v !== w.bytes[j])) return `${at}: a value from JavaScript changed (${x.bytes.length} bytes)`;
        break;
      }
      case 'pipeline':
        if (x.pipeline !== (y as typeof x).pipeline) return `${at}: another pipeline`;
        break;
      case 'bind': {
        const g = y as typeof x;
        if (x.index !== g.index || x.ranges.length !== g.ranges.length) return `${at}: another layout`;
        for (let j = 0; j < x.ranges.length; j++) {
          const r = x.ranges[j]!;
          const s = g.ranges[j]!;
          if (!same(r.buffer, s.buffer) || r.offset !== s.offset || r.size !== s.size) return `${at}: binding ${j} binds another buffer`;
        }
        break;
      }
      case 'dispatch': {
        const d = y as typeof x;
        if (x.x !== d.x || x.y !== d.y || x.z !== d.z) return `${at}: another size`;
        break;
      }
      case 'copy': {
        const c = y as typeof x;
        if (!same(x.from, c.from) || !same(x.to, c.to) || x.fromOffset !== c.fromOffset || x.toOffset !== c.toOffset || x.size !== c.size) return `${at}: another copy`;
        break;
      }
    }
  }
  return null;
}

/** A variable the graph binds: the data it had when recorded, and whether the step writes it. */
interface Bound {
  readonly variable: tf.Variable;
  readonly dataId: object;
  readonly written: boolean;
}

/** A command of a replay: a dispatch carries its pipeline and bind group. */
type Command =
  | Extract<Op, { kind: 'write' | 'copy' | 'submit' }>
  | { readonly kind: 'dispatch'; readonly pipeline: GPUComputePipeline; readonly group: GPUBindGroup; readonly x: number; readonly y: number; readonly z: number };

/**
 * The commands a replay queues: the recorded dispatches and copies in their order, in one compute
 * pass between copies, and one submit at the end instead of tfjs's every 15 dispatches. Only a
 * write needs one before it, where it goes into a buffer a command since the last submit uses:
 * a write lands before every command not yet submitted, so it would overtake that command. (Where
 * the step was recorded, nothing unsubmitted used the buffer a write went into: tfjs writes only
 * into buffers the pool hands out, which it does once no unsubmitted command uses them.)
 */
function compile(ops: readonly Op[]): Command[] {
  const commands: Command[] = [];
  let touched = new Set<GPUBuffer>();
  let pipeline: GPUComputePipeline | null = null;
  let bind: Extract<Op, { kind: 'bind' }> | null = null;
  for (const op of ops) {
    switch (op.kind) {
      case 'write':
        if (touched.has(op.buffer)) {
          commands.push({ kind: 'submit' });
          touched = new Set();
        }
        commands.push(op);
        break;
      case 'pass':
        pipeline = bind = null;
        break;
      case 'pipeline':
        pipeline = op.pipeline;
        break;
      case 'bind':
        if (op.index !== 0) throw new Error(`step-graph: a step binds group ${op.index}; tfjs binds group 0 alone`);
        bind = op;
        break;
      case 'dispatch':
        if (pipeline === null || bind === null) throw new Error('step-graph: a dispatch without a pipeline or a bind group');
        for (const r of bind.ranges) touched.add(r.buffer);
        commands.push({ kind: 'dispatch', pipeline, group: bind.group, x: op.x, y: op.y, z: op.z });
        break;
      case 'copy':
        touched.add(op.from).add(op.to);
        commands.push(op);
        break;
      case 'end':
      case 'submit':
        break;
    }
  }
  return commands;
}

/** A recorded step, replayed on its pinned buffers. */
class Graph {
  private readonly buffers: Set<GPUBuffer>;
  private readonly bound: Bound[] = [];
  private readonly commands: readonly Command[];
  /** Why the graph may not replay any more, once a tensor it reads is gone. */
  private stale: string | null = null;
  private readonly unwatch: () => void;

  constructor(
    private readonly backend: WebGPUBackend,
    private readonly pins: BufferPins,
    readonly recording: Recording,
    private readonly readBack: (output: Range, encoder: GPUCommandEncoder) => StepOutput,
  ) {
    const buffers = new Set<GPUBuffer>([...recording.feeds, recording.output.buffer]);
    for (const op of recording.ops) {
      if (op.kind === 'write') buffers.add(op.buffer);
      else if (op.kind === 'bind') for (const r of op.ranges) buffers.add(r.buffer);
      else if (op.kind === 'copy') buffers.add(op.from).add(op.to);
    }
    this.buffers = buffers;
    this.commands = compile(recording.ops);
    // Buffers of tensors that outlive the step (weights, the optimizers' constants, anything the
    // caller keeps): where one is released, its tensor is gone, and a step run now would read
    // another tensor in its place. The feeds are the caller's to dispose after each step.
    const live = pins.pin(buffers);
    for (const f of recording.feeds) live.delete(f);
    this.unwatch = pins.onRelease((buffer) => {
      if (live.has(buffer)) this.stale ??= 'a tensor the step reads was disposed';
    });
    for (const variable of Object.values(tf.engine().registeredVariables)) {
      const data = (backend as unknown as Internals).tensorMap.get(variable.dataId);
      if (data !== undefined && buffers.has(data.resource as GPUBuffer)) {
        this.bound.push({ variable, dataId: variable.dataId, written: recording.written.has(variable) });
      }
    }
  }

  /** Its dispatches, writes and submits (one more, with the read-back, ends each replay). */
  counts(): NonNullable<StepGraphStats['last']> {
    const count = (kind: Command['kind']) => this.commands.filter((c) => c.kind === kind).length;
    return { dispatches: count('dispatch'), writes: count('write'), submits: count('submit') + 1 };
  }

  /** Null when the graph may replay now; else why not. */
  check(): string | null {
    if (this.stale !== null) return this.stale;
    const { backend } = this;
    for (const { variable, dataId, written } of this.bound) {
      if (variable.isDisposed || variable.dataId !== dataId) return `variable ${variable.name} has new data`;
      if (written && !ownsItsBuffer(backend, variable)) return `variable ${variable.name} is shared or being read`;
    }
    return null;
  }

  /** Queues the step again on `feeds`' values; call check() first. */
  replay(feeds: readonly tf.Tensor[]): StepOutput {
    const { backend, recording } = this;
    for (const { variable, written } of this.bound) if (written) noteWrittenInPlace(backend, variable);
    const sources = feeds.map((t) => gpuBufferOf(backend, t));
    submitPending(backend);
    const { device, queue } = backend as unknown as Internals;
    let encoder = device.createCommandEncoder();
    sources.forEach((from, i) => encoder.copyBufferToBuffer(from, 0, recording.feeds[i]!, 0, feeds[i]!.size * 4));
    let pass: GPUComputePassEncoder | null = null;
    let pipeline: GPUComputePipeline | null = null;
    let group: GPUBindGroup | null = null;
    for (const c of this.commands) {
      if (c.kind === 'dispatch') {
        if (pass === null) {
          pass = encoder.beginComputePass();
          pipeline = group = null;
        }
        if (c.pipeline !== pipeline) pass.setPipeline((pipeline = c.pipeline));
        if (c.group !== group) pass.setBindGroup(0, (group = c.group));
        pass.dispatchWorkgroups(c.x, c.y, c.z);
        continue;
      }
      pass?.end();
      pass = null;
      if (c.kind === 'write') queue.writeBuffer(c.buffer, c.offset, c.bytes);
      else if (c.kind === 'copy') encoder.copyBufferToBuffer(c.from, c.fromOffset, c.to, c.toOffset, c.size);
      else {
        queue.submit([encoder.finish()]);
        encoder = device.createCommandEncoder();
      }
    }
    pass?.end();
    return this.readBack(recording.output, encoder);
  }

  dispose(): void {
    this.unwatch();
    this.pins.unpin(this.buffers);
  }
}
