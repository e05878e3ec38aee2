import { defineConfig } from 'vitest/config';

/**
 * The webgpu parity suite (npm run test:webgpu): TL's webgpu kernels against the cpu backend, on
 * whatever adapter the machine has. Its files end in .webgpu.ts so the main suite never runs them.
 */
export default defineConfig({
  test: {
    include: ['test/webgpu/**/*.webgpu.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One Dawn device at a time: files run one after another.
    fileParallelism: false,
    // Tuned tiles are kept in a file only where a test names one: never in the user's own cache.
    env: { TL_TUNE_CACHE: 'off' },
  },
});
