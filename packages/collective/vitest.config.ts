import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real sockets on a shared 2-core machine: leave room for a slow moment.
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
