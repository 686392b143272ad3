import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Float64 references for k up to 1024 are slow-ish in JS on a shared 2-core machine.
    testTimeout: 60_000,
  },
});
