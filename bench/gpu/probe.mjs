// Which WebGPU adapter Dawn finds on this machine: `node probe.mjs vulkan|opengl`. run.sh asks it
// before the benchmark, so a machine whose driver does not come up says why in seconds.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const mode = process.argv[2] ?? 'vulkan';
if (mode === 'opengl') process.env.EGL_PLATFORM ??= 'surfaceless';
const gpu = create(mode === 'opengl' ? ['backend=opengl'] : []);
const adapter = await gpu.requestAdapter(mode === 'opengl' ? { featureLevel: 'compatibility' } : { powerPreference: 'high-performance' });
if (!adapter) {
  console.log(`${mode}: no adapter`);
  process.exit(1);
}
const i = adapter.info ?? {};
console.log(`${mode}: ${[i.vendor, i.architecture, i.description].filter((s) => s).join(' ')}${adapter.isFallbackAdapter ? ' (fallback)' : ''}`);
await adapter.requestDevice();
console.log(`${mode}: device created`);
process.exit(0);
