// Temporary folders and child processes that must not outlive the bench, even when it is
// interrupted with Ctrl-C or fails half-way: each registers a synchronous undo step, run
// once at exit (normal, error, SIGINT or SIGTERM).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const steps = new Set<() => void>();
let installed = false;

/** Registers an undo step; returns a function that runs it now and unregisters it. */
export function onCleanup(step: () => void): () => void {
  install();
  steps.add(step);
  return () => {
    if (steps.delete(step)) step();
  };
}

/**
 * A new empty folder under the OS temp folder (TMPDIR; it must be on a real disk for
 * fsync figures to mean anything), removed at exit.
 */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `larder-bench-${prefix}-`));
  const remove = onCleanup(() => rmSync(path, { recursive: true, force: true }));
  return { path, remove };
}

function runAll(): void {
  for (const step of [...steps].reverse()) {
    steps.delete(step);
    try {
      step();
    } catch {
      // Best effort: one failed undo must not keep the others from running.
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: cleaning up\n`);
      runAll();
      process.exit(130);
    });
  }
}
