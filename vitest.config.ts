import { configDefaults, defineConfig } from 'vitest/config';

/**
 * test/fault stops and restarts servers (kill -9 workers, Redis shutdown), so
 * it never runs alongside other files: a plain `vitest run` leaves it out, and
 * `npm test` runs it afterwards, one file at a time, with
 * `vitest run test/fault --no-file-parallelism`. Naming test/fault on the
 * command line (or CELERIAC_FAULT_TESTS=1) is what brings it in.
 */
const faultRequested =
  process.env.CELERIAC_FAULT_TESTS === '1' || process.argv.slice(2).some((a) => a.replace(/\\/g, '/').replace(/^\.\//, '').startsWith('test/fault'));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...(faultRequested ? [] : ['test/fault/**'])],
    typecheck: { enabled: true, include: ['test/types/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: true,
  },
});
