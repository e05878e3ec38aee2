import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { wasmThreads } from './src/executor/backends/threads.ts';

// Test files run in parallel processes, and those that train share the cores the way the service's jobs do.
const forks = Math.max(1, availableParallelism() - 1);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: forks,
    env: { TL_THREADS: String(wasmThreads(process.env, availableParallelism(), forks)) },
  },
});
