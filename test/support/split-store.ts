// One Store made of two Stores on one database (in two processes, for the conformance
// suite on PostgreSQL): object calls and handle calls go to one and the other in turn, so
// that what one process writes the next call reads through the other. A call that may
// wait (a queue get or getMany with a timeout other than 0) and an iteration go to the
// handle's own side: waiters are served in arrival order within one process, and across
// processes only wake-ups are promised (docs/postgres.md), which such waits still test,
// since half the puts that wake them come from the other process.

import type { Dict, ObjectInfo, Queue, Store } from "../../proto/api.ts";

type AnyHandle = Dict | Queue;

/** Handle methods sent to either side; everything else (iterators, close, info) stays on the handle's own. */
const ALTERNATED = new Set(["put", "get", "contains", "pop", "update", "len", "clear", "putMany", "getMany"]);

function mayWait(kind: "dict" | "queue", method: string, args: unknown[]): boolean {
  if (kind !== "queue" || (method !== "get" && method !== "getMany")) return false;
  const options = (method === "get" ? args[0] : args[1]) as { timeoutMs?: number } | undefined;
  return options?.timeoutMs !== 0;
}

function splitHandle<H extends AnyHandle>(kind: "dict" | "queue", own: H, other: H): H {
  let turn = 0;
  const closeBoth = async (close: () => Promise<void>): Promise<void> => {
    try {
      await close();
    } finally {
      await other.close();
    }
  };
  return new Proxy(own, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      const method = value as (...args: unknown[]) => unknown;
      if (prop === "close" || prop === Symbol.asyncDispose) return () => closeBoth(() => method.call(target) as Promise<void>);
      if (prop === "closeEphemeral") {
        return () => {
          const closing = method.call(target) as Promise<void>; // throws synchronously on a handle not from ephemeral()
          return closeBoth(() => closing);
        };
      }
      if (typeof prop !== "string" || !ALTERNATED.has(prop)) return method.bind(target);
      return (...args: unknown[]) => {
        if (mayWait(kind, prop, args)) return method.apply(target, args);
        const side = turn++ % 2 === 0 ? target : other;
        return (Reflect.get(side, prop, side) as (...a: unknown[]) => unknown).apply(side, args);
      };
    },
  });
}

/** The shape both services share, loosely typed: the wrapper passes arguments through. */
interface Service {
  fromName(name: string, options?: object): Promise<AnyHandle>;
  fromId(id: string): Promise<AnyHandle>;
  ephemeral(options?: object): Promise<AnyHandle>;
  create(name: string, options?: object): Promise<void>;
  list(options?: object): Promise<ObjectInfo[]>;
  delete(name: string, options?: object): Promise<void>;
}

function splitService(kind: "dict" | "queue", a: Service, b: Service): Service {
  let turn = 0;
  const pick = (): [Service, Service] => (turn++ % 2 === 0 ? [a, b] : [b, a]);
  const pair = async (own: AnyHandle, other: Service): Promise<AnyHandle> => splitHandle(kind, own, await other.fromId(own.id));
  const service = {
    async fromName(name: string, options?: object) {
      const [x, y] = pick();
      return pair(await x.fromName(name, options), y);
    },
    async fromId(id: string) {
      const [x, y] = pick();
      return pair(await x.fromId(id), y);
    },
    async ephemeral(options?: object) {
      const [x, y] = pick();
      return pair(await x.ephemeral(options), y);
    },
    create: (name: string, options?: object) => pick()[0].create(name, options),
    list: (options?: object): Promise<ObjectInfo[]> => pick()[0].list(options),
    delete: (name: string, options?: object) => pick()[0].delete(name, options),
  };
  return service;
}

/** `a` and `b` as one Store; `close` closes both (and whatever serves them). */
export function splitStore(a: Store, b: Store, close: () => Promise<void>): Store {
  return {
    dicts: splitService("dict", a.dicts as unknown as Service, b.dicts as unknown as Service) as unknown as Store["dicts"],
    queues: splitService("queue", a.queues as unknown as Service, b.queues as unknown as Service) as unknown as Store["queues"],
    close,
    [Symbol.asyncDispose]: close,
  };
}
