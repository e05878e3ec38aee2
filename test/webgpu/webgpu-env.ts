/**
 * Brings up tfjs's webgpu backend with TL's kernels the way `tl run --backend webgpu` does
 * (src/executor/backends/webgpu/adapter.ts): a GPU through Vulkan when the loader is there, else
 * Mesa's llvmpipe through OpenGL; TL_WEBGPU_ADAPTER=hardware|software forces one. Or says why it
 * cannot, and the suite is skipped.
 */
import { startWebgpu } from '../../src/executor/backends/webgpu/adapter.ts';
import { registerWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';

export type WebgpuEnv = { readonly ok: true; readonly adapter: string } | { readonly ok: false; readonly why: string };

async function bringUp(): Promise<WebgpuEnv> {
  const forced = process.env.TL_WEBGPU_ADAPTER;
  try {
    const device = await startWebgpu({ adapter: forced === 'hardware' || forced === 'software' ? forced : 'auto' });
    registerWebgpuTrainingKernels();
    return { ok: true, adapter: `${device.software ? 'software' : 'hardware'}: ${device.description}` };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
}

let env: Promise<WebgpuEnv> | undefined;

/** The backend, set up once per test file; leaves 'webgpu' the active backend when ok. */
export function webgpuEnv(): Promise<WebgpuEnv> {
  env ??= bringUp().then((e) => {
    if (!e.ok) console.warn(`\n  webgpu parity suite SKIPPED: ${e.why}\n`);
    return e;
  });
  return env;
}
