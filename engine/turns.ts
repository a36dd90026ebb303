// Fairness for callers in the same process. An embedded read of a committed entry, an empty
// queue poll, a skipIfExists put that finds its key, or any call on the in-memory engine
// answers without real I/O: only microtasks. A loop of such calls (a Modal-style
// `get(block=False)` poll, a spin on a lock) would then never let the event loop turn, and
// the timer or socket that would end the loop never runs. So once this many answers have
// been given since the event loop last turned, each further one waits for the next turn.
// A loop still runs 1,024 calls per turn (the bench measured no cost; a scratch loop of
// 6,400 concurrent gets that never yields lost 27%), and timers and I/O run in between.

/** Answers given in one turn of the event loop before the next ones wait for a turn. */
export const ANSWERS_PER_TURN = 1024;

export class TurnBudget {
  private answered = 0;
  /** Resolves at the next turn of the event loop; made when this turn's first answer is given. */
  private nextTurn: Promise<void> | undefined;

  /** `answer`, settled no earlier than the next turn of the event loop once this turn's budget is spent. */
  answer<T>(answer: Promise<T>): Promise<T> {
    // One shared promise per turn: the answers that wait cost a few microtasks each, not a timer each.
    const turn = (this.nextTurn ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.nextTurn = undefined;
        this.answered = 0;
        resolve();
      }),
    ));
    if (++this.answered <= ANSWERS_PER_TURN) return answer;
    return answer.then(
      (value) => turn.then(() => value),
      (err: unknown) => turn.then(() => Promise.reject(err)),
    );
  }
}
