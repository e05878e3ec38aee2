/**
 * Programs with several outputs, dispatched into tfjs-backend-webgpu's own command stream.
 *
 * A tfjs program writes one output (`result`), so work that yields several values per index took a
 * dispatch per value: Adam's two moments and its new weights (three dispatches a variable, 642 a
 * ResNet50 step), a BatchNorm's statistics and its two moving averages, its gradient's
 * coefficients and its scale and offset gradients. Here one program writes them all.
 *
 * A multi-output program is flat: its WGSL body runs once per index below `uniforms.size`, and
 * reads its inputs and writes its outputs by the names given. The shader, its bind group layout
 * (outputs read-write, then inputs read-only, then the uniforms) and its pipeline are built here
 * and kept per device; the dispatch goes into the backend's open compute pass, as its own
 * programs' do, so it is ordered with them, batched into the same submits, timed by tf.time, and
 * its tensors are released only after the submit that uses them.
 */
import * as tf from '@tensorflow/tfjs';
import { groups, MAX_DISPATCH, sizeOf, type Uniform, type WebGPUBackend } from './backend.ts';

export interface MultiOutputProgram {
  /** Names the shader by; the WGSL must depend on nothing else. */
  readonly key: string;
  /** The outputs' names in the WGSL, in the order of the outputs returned. */
  readonly outputs: readonly string[];
  /** The inputs' names, in the order of the inputs given. */
  readonly inputs: readonly string[];
  /** The program's own uniform fields in WGSL, after `size : i32` (e.g. `'a : f32, b : f32,'`), given in that order. */
  readonly uniforms: string;
  /** WGSL run for each `index : i32` below `uniforms.size`. */
  readonly body: string;
  /**
   * Invocations per index, one workgroup each (a power of two up to 256), for a body that shares
   * work between them: it then has `lane : u32` and `lanePairs`, a workgroup array of `lanes`
   * vec2<f32>, and may call workgroupBarrier (an index's workgroup leaves or stays as one).
   * Without it, one invocation per index.
   */
  readonly lanes?: number;
  /**
   * Every output and input bound as vec4s (`array<vec4<f32>>`), each index four values: for a
   * body that does the same to four neighbouring values, a quarter of the loads. Default false.
   */
  readonly vec4?: boolean;
}

/** The parts of the backend this touches (private in tfjs's typings). */
interface Internals {
  readonly device: GPUDevice;
  readonly tensorMap: { get(dataId: unknown): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32'): tf.TensorInfo;
  uploadToGPU(dataId: unknown): void;
  tensorToBinding(t: tf.TensorInfo): GPUBufferBinding;
  makeUniforms(uniforms: Uniform[]): GPUBufferBinding;
  readonly commandQueueOwnedIds: WeakSet<object>;
  ensureCommandEncoderReady(): void;
  readonly commandEncoder: GPUCommandEncoder;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  endComputePassEncoder(): void;
  submitQueue(): void;
  readonly activeTimers: { name: string; query: Promise<number> }[] | null;
  readonly supportTimestampQuery: boolean;
  querySet: GPUQuerySet | null;
  readonly querySetCount: number;
  getQueryTime(): Promise<number>;
}

const WORKGROUP = 64;

interface Compiled {
  readonly layout: GPUBindGroupLayout;
  readonly pipeline: GPUComputePipeline;
}

/** Pipelines by program key, per device. */
const compiled = new WeakMap<GPUDevice, Map<string, Compiled>>();

/** The whole shader of `program`. */
export function multiOutputShader(program: MultiOutputProgram): string {
  const type = program.vec4 === true ? 'vec4<f32>' : 'f32';
  const outputs = program.outputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read_write> ${name} : array<${type}>;`);
  const inputs = program.inputs.map((name, i) => `@group(0) @binding(${program.outputs.length + i}) var<storage, read> ${name} : array<${type}>;`);
  const bindings = program.outputs.length + program.inputs.length;
  const head = `
struct Uniforms { size : i32, ${program.uniforms} };
${[...outputs, ...inputs].join('\n')}
@group(0) @binding(${bindings}) var<uniform> uniforms : Uniforms;
`;
  if (program.lanes !== undefined) {
    return `${head}
var<workgroup> lanePairs : array<vec2<f32>, ${program.lanes}>;

@compute @workgroup_size(${program.lanes}, 1, 1)
fn main(@builtin(workgroup_id) group : vec3<u32>, @builtin(num_workgroups) count : vec3<u32>, @builtin(local_invocation_index) lane : u32) {
  let index = i32(group.y * count.x + group.x);
  if (index >= uniforms.size) {
    return;
  }
  ${program.body}
}`;
  }
  return `${head}
@compute @workgroup_size(${WORKGROUP}, 1, 1)
fn main(@builtin(global_invocation_id) id : vec3<u32>, @builtin(num_workgroups) count : vec3<u32>) {
  let index = i32(id.y * count.x * ${WORKGROUP}u + id.x);
  if (index >= uniforms.size) {
    return;
  }
  ${program.body}
}`;
}

function compile(device: GPUDevice, program: MultiOutputProgram): Compiled {
  let byKey = compiled.get(device);
  if (byKey === undefined) compiled.set(device, (byKey = new Map()));
  let done = byKey.get(program.key);
  if (done === undefined) {
    const buffer = (type: GPUBufferBindingType) => ({ visibility: GPUShaderStage.COMPUTE, buffer: { type } });
    const layout = device.createBindGroupLayout({
      entries: [
        ...program.outputs.map(() => buffer('storage')),
        ...program.inputs.map(() => buffer('read-only-storage')),
        buffer('uniform'),
      ].map((entry, binding) => ({ binding, ...entry })),
    });
    const pipeline = device.createComputePipeline({
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: device.createShaderModule({ code: multiOutputShader(program) }), entryPoint: 'main' },
    });
    byKey.set(program.key, (done = { layout, pipeline }));
  }
  return done;
}

/**
 * Runs `program` over `size` indices (of vec4s, for a `vec4` program) and returns its float32
 * outputs: for each of `outputs`, a new tensor where a shape is given, or the tensor given, which
 * the program reads and writes (an update in place; it must not be among `inputs` too).
 * `uniforms` are the program's own fields, in its order.
 */
export function runMultiOutput(
  backend: WebGPUBackend,
  program: MultiOutputProgram,
  inputs: readonly tf.TensorInfo[],
  outputs: readonly (readonly number[] | tf.TensorInfo)[],
  size: number,
  uniforms: readonly Uniform[],
): tf.TensorInfo[] {
  if (inputs.length !== program.inputs.length || outputs.length !== program.outputs.length) {
    throw new Error(`${program.key}: takes ${program.inputs.length} inputs and makes ${program.outputs.length} outputs, given ${inputs.length} and ${outputs.length}`);
  }
  const b = backend as unknown as Internals;
  const made = outputs.map((o) => ('dataId' in o ? o : b.makeTensorInfo([...o], 'float32')));
  if (size === 0) {
    // No work, and WebGPU binds no empty buffer: new outputs stay on the CPU, as tfjs's empty ones do.
    made.forEach((o, i) => {
      if (!('dataId' in outputs[i]!)) b.tensorMap.get(o.dataId).values = new Float32Array(sizeOf(o.shape));
    });
    return made;
  }
  dispatch(b, program, inputs, made, size, uniforms);
  return made;
}

/** Binds the outputs, inputs and uniforms and records the dispatch into the backend's open pass. */
function dispatch(b: Internals, program: MultiOutputProgram, inputs: readonly tf.TensorInfo[], outputs: readonly tf.TensorInfo[], size: number, uniforms: readonly Uniform[]): void {
  const tensors = [...outputs, ...inputs];
  for (const t of tensors) b.uploadToGPU(t.dataId);
  const { layout, pipeline } = compile(b.device, program);
  const entries: GPUBindGroupEntry[] = tensors.map((t, binding) => ({ binding, resource: b.tensorToBinding(t) }));
  entries.push({ binding: tensors.length, resource: b.makeUniforms([{ type: 'int32', data: [size] }, ...uniforms.map((u) => ({ type: u.type, data: [...u.data] }))]) });
  for (const t of tensors) b.commandQueueOwnedIds.add(t.dataId);
  const bindGroup = b.device.createBindGroup({ layout, entries });

  // As the backend's recordAndSubmit: timed programs get a pass of their own with timestamps.
  const timed = b.activeTimers != null;
  b.ensureCommandEncoderReady();
  if (timed && b.supportTimestampQuery) {
    b.endComputePassEncoder();
    b.querySet ??= b.device.createQuerySet({ type: 'timestamp', count: b.querySetCount });
    b.computePassEncoder = b.commandEncoder.beginComputePass({ timestampWrites: { querySet: b.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
  } else {
    b.computePassEncoder ??= b.commandEncoder.beginComputePass({});
  }
  const pass = b.computePassEncoder!;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  const workgroups = program.lanes === undefined ? groups(size, WORKGROUP) : size;
  const x = Math.min(workgroups, MAX_DISPATCH);
  pass.dispatchWorkgroups(x, groups(workgroups, x), 1);
  b.dispatchCountInPass++;
  if (timed || (tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= b.dispatchCountInPass) {
    b.endComputePassEncoder();
    if (timed) b.activeTimers!.push({ name: program.key, query: b.getQueryTime() });
    else b.submitQueue();
  }
}
