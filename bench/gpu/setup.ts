/**
 * Brings up tfjs's webgpu backend for the GPU benchmark through the executor's own bring-up
 * (src/executor/backends/webgpu/adapter.ts), with exact GPU timestamps (`withExactTimestamps`) and
 * these knobs: TL_DAWN_FLAGS (space-separated
 * flags for Dawn's `create`, e.g. `enable-dawn-features=allow_unsafe_apis` for timestamp queries),
 * TL_TFJS_FLAGS (tfjs flags set before the backend starts, e.g.
 * `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64`), BENCH_SOFTWARE=1 (Mesa's llvmpipe through OpenGL, to
 * check the bundle on a machine without a GPU) and BENCH_OPENGL=1 (the GPU through Dawn's OpenGL
 * backend, which run.sh takes where the Vulkan driver does not come up).
 */
import { startWebgpu } from '../../src/executor/backends/webgpu/adapter.ts';
import { setUnmeasuredTile } from '../../src/executor/backends/webgpu/gemm.ts';

export interface Device {
  readonly adapter: string;
  readonly software: boolean;
  /** Whether the adapter offers GPU timestamps (then tf.time reports kernel time). */
  readonly timestamps: boolean;
  readonly flags: readonly string[];
}

/**
 * `flags` with Dawn's timestamp quantization off. Dawn rounds every timestamp query down to a
 * multiple of 65,536 ns unless told not to (a browser's guard against timing attacks): the first
 * GPU run's per-kernel GPU times were all multiples of 0.0655 ms, so a kernel's own time was known
 * to one such step only. Where the flags already disable Dawn features, this one joins them.
 */
export function withExactTimestamps(flags: readonly string[]): string[] {
  const toggle = 'timestamp_quantization';
  const at = flags.findIndex((f) => f.startsWith('disable-dawn-features='));
  if (at < 0) return [...flags, `disable-dawn-features=${toggle}`];
  return flags.map((f, i) => (i === at && !f.split(/[=,]/).includes(toggle) ? `${f},${toggle}` : f));
}

function parseValue(value: string): number | boolean | string {
  if (value === 'true' || value === 'false') return value === 'true';
  return Number.isNaN(Number(value)) ? value : Number(value);
}

export async function setUpWebgpu(): Promise<Device> {
  const software = process.env.BENCH_SOFTWARE === '1';
  const viaOpenGL = software || process.env.BENCH_OPENGL === '1';
  const dawnFlags = withExactTimestamps((process.env.TL_DAWN_FLAGS ?? '').split(/\s+/).filter((f) => f !== ''));
  const tfjsFlags = (process.env.TL_TFJS_FLAGS ?? '').split(',').filter((f) => f.includes('='));
  const device = await startWebgpu({
    adapter: viaOpenGL ? 'software' : 'hardware',
    dawnFlags,
    tfjsFlags: Object.fromEntries(tfjsFlags.map((f) => [f.slice(0, f.indexOf('=')), parseValue(f.slice(f.indexOf('=') + 1))])),
  });
  const isSoftware = software || /llvmpipe|lavapipe|swiftshader|mesa/i.test(device.description);
  // As tl run does (backends/select.ts): unmeasured products take the 64 tile on a GPU.
  setUnmeasuredTile(isSoftware ? 'by-shape' : '64x64');
  return { adapter: device.description, software: isSoftware, timestamps: device.timestamps, flags: [...(viaOpenGL ? ['backend=opengl'] : []), ...dawnFlags, ...tfjsFlags] };
}
