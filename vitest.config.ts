import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real LevelDB folders, real ports and real child processes: two cores are shared,
    // so keep the number of test files running at once small.
    maxWorkers: 2,
    pool: "forks",
  },
});
