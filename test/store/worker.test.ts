// store/worker.ts against a fake queue, for what a real store cannot show on demand: a
// reserve that answers after close() began (its reservations are released, never run), a
// reserve that fails for a passing reason (tried again) or for good (the worker stops),
// and the backoff formula up to its cap.

import { describe, expect, it } from "vitest";
import type { Reservation } from "../../proto/api.ts";
import { ClosedError, InvalidError, UnavailableError } from "../../proto/errors.ts";
import { retryDelayMs, Worker, type ReserveOptions, type ReserveSource } from "../../store/worker.ts";

interface FakeJob {
  job: Reservation<string>;
  calls: string[];
}

function fakeJob(value: string, deliveries = 1): FakeJob {
  const calls: string[] = [];
  const job = {
    value,
    deliveries,
    partition: undefined,
    leaseEndsAt: new Date(0),
    ack: async () => void calls.push("ack"),
    release: async (o?: { delayMs?: number }) => void calls.push(`release ${o?.delayMs ?? 0}`),
    extend: async (ms: number) => void calls.push(`extend ${ms}`),
  } as unknown as Reservation<string>;
  return { job, calls };
}

/** A source whose reserves the test answers by hand, in order. */
class FakeSource implements ReserveSource<string> {
  readonly label = "Queue 'fake'";
  readonly asked: Array<{ n: number; options: ReserveOptions; answer: (jobs: Array<Reservation<string>>) => void; fail: (err: unknown) => void }> = [];

  reserve(n: number, options: ReserveOptions, signal: AbortSignal): Promise<Array<Reservation<string>>> {
    return new Promise((answer, fail) => {
      this.asked.push({ n, options, answer, fail });
      void signal;
    });
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("store/worker", () => {
  it("backs off 1 s, 2 s, 4 s ... per delivery, at most 5 min", () => {
    expect([1, 2, 3, 4, 5].map(retryDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
    expect(retryDelayMs(9)).toBe(256_000);
    expect(retryDelayMs(10)).toBe(300_000);
    expect(retryDelayMs(1_000)).toBe(300_000);
  });

  it("asks for as many items as it has free slots, with its reserve options", async () => {
    const source = new FakeSource();
    const worker = new Worker(source, async () => {}, { concurrency: 4, leaseMs: 5_000, partition: "p", maxDeliveries: 3, deadLetterPartition: "dead" });
    await until(() => source.asked.length === 1, "the first reserve");
    expect(source.asked[0]!.n).toBe(4);
    expect(source.asked[0]!.options).toEqual({ leaseMs: 5_000, partition: "p", maxDeliveries: 3, deadLetterPartition: "dead" });
    const closing = worker.close();
    source.asked[0]!.fail(new ClosedError("aborted"));
    await closing;
  });

  it("releases, without running them, reservations that arrive after close() began", async () => {
    const source = new FakeSource();
    const ran: string[] = [];
    const worker = new Worker(source, async (value) => void ran.push(value), { concurrency: 2 });
    await until(() => source.asked.length === 1, "the first reserve");
    const closing = worker.close();
    const a = fakeJob("a");
    const b = fakeJob("b");
    source.asked[0]!.answer([a.job, b.job]);
    await closing;
    expect(ran).toEqual([]);
    expect(a.calls).toEqual(["release 0"]);
    expect(b.calls).toEqual(["release 0"]);
    expect(source.asked).toHaveLength(1);
  });

  it("acks on resolve, releases with the backoff delay on throw, reports the handler's error with its reservation", async () => {
    const source = new FakeSource();
    const errors: Array<[unknown, unknown]> = [];
    const worker = new Worker(
      source,
      async (value) => {
        if (value === "bad") throw new Error("nope");
      },
      { concurrency: 2, onError: (e, r) => void errors.push([e, r]) },
    );
    await until(() => source.asked.length === 1, "the first reserve");
    const good = fakeJob("good");
    const bad = fakeJob("bad", 3);
    source.asked[0]!.answer([good.job, bad.job]);
    await until(() => good.calls.length > 0 && bad.calls.length > 0, "both are settled");
    expect(good.calls).toEqual(["ack"]);
    expect(bad.calls).toEqual(["release 4000"]);
    expect(errors).toHaveLength(1);
    expect((errors[0]![0] as Error).message).toBe("nope");
    expect(errors[0]![1]).toBe(bad.job);
    await until(() => source.asked.length === 2, "the next reserve");
    const closing = worker.close();
    source.asked[1]!.fail(new ClosedError("aborted"));
    await closing;
  });

  it("tries a reserve again after a passing failure, and stops for good after a permanent one", async () => {
    const source = new FakeSource();
    const errors: unknown[] = [];
    const worker = new Worker(source, async () => {}, { onError: (e) => void errors.push(e) });
    await until(() => source.asked.length === 1, "the first reserve");
    source.asked[0]!.fail(new UnavailableError("server away"));
    await until(() => source.asked.length === 2, "a second reserve");
    source.asked[1]!.fail(new InvalidError("leaseMs over leaseMsMax"));
    await until(() => errors.length === 2, "the permanent failure is reported");
    await worker.close();
    expect(errors.map((e) => (e as Error).constructor.name)).toEqual(["UnavailableError", "InvalidError"]);
    await new Promise((r) => setTimeout(r, 300));
    expect(source.asked).toHaveLength(2);
  });
});
