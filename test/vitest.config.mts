import { defineConfig } from 'vitest/config';

// Each test launches real coordinator and worker processes; run files one at a time on 2 cores.
export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
