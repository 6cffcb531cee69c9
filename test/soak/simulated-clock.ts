/** One turn of the real event loop (setImmediate stays real): promise chains run to their end. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Node's longest delay: a longer one fires at once, as Node does it (after 1 ms). */
const MAX_DELAY = 2 ** 31 - 1;

/** A timer on the simulated clock, shaped as Node's: a handle with `ref`, `unref`, `refresh`, and its id when coerced. */
class SimulatedTimer {
  /** Bumped when the timer is scheduled again, so that its earlier place in the queue is stale. */
  version = 0;

  constructor(
    readonly id: number,
    public at: number,
    readonly createdAt: number,
    readonly delay: number,
    readonly repeats: boolean,
    readonly callback: (...args: unknown[]) => void,
    readonly args: unknown[],
    private readonly clock: SimulatedClock,
  ) {}

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  hasRef(): boolean {
    return true;
  }

  refresh(): this {
    this.clock.schedule(this, this.clock.now + this.delay);
    return this;
  }

  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

interface QueueEntry {
  readonly timer: SimulatedTimer;
  readonly at: number;
  readonly version: number;
}

/** Due first: the earlier time, then the timer made first (as @sinonjs/fake-timers orders them). */
const before = (a: QueueEntry, b: QueueEntry) => a.at < b.at || (a.at === b.at && (a.timer.createdAt < b.timer.createdAt || (a.timer.createdAt === b.timer.createdAt && a.timer.id < b.timer.id)));

/**
 * The soak's simulated time: `setTimeout`, `setInterval`, their clears and `Date`, on a clock
 * that moves only when the soak moves it. It behaves as the fake timers of vitest
 * (@sinonjs/fake-timers) do for the soak, at a fraction of their cost per timer (a run sets and
 * clears thousands): timers wait in order, a cleared one is skipped when it comes up.
 *
 * @example
 * ```ts
 * const clock = new SimulatedClock();
 * const uninstall = clock.install();
 * setTimeout(() => console.log('a minute later'), 60_000);
 * await clock.advanceBy(60_000);
 * uninstall();
 * ```
 */
export class SimulatedClock {
  /** Simulated milliseconds since the epoch: `Date.now()` while installed. */
  now = Date.now();
  private readonly timers = new Map<number, SimulatedTimer>();
  /** Timers by when they are due; entries of cleared or rescheduled timers stay until they come up. */
  private queue: QueueEntry[] = [];
  private lastId = 0;
  /** While time moves, a timer set with no delay fires 1 ms later, as with the fake timers. */
  private moving = false;

  /** Puts the clock in place of the global timers and `Date`; returns what puts the real ones back. */
  install(): () => void {
    const real = { setTimeout, clearTimeout, setInterval, clearInterval, Date };
    this.now = Date.now();
    const now = () => this.now;
    class SimulatedDate extends real.Date {
      constructor(...args: unknown[]) {
        super(...((args.length === 0 ? [now()] : args) as [number]));
      }

      static override now(): number {
        return now();
      }
    }
    Object.assign(globalThis, {
      setTimeout: (callback: () => void, delay?: number, ...args: unknown[]) => this.add(callback, delay, args, false),
      setInterval: (callback: () => void, delay?: number, ...args: unknown[]) => this.add(callback, delay, args, true),
      clearTimeout: (handle?: unknown) => this.clear(handle),
      clearInterval: (handle?: unknown) => this.clear(handle),
      Date: SimulatedDate,
    });
    return () => {
      Object.assign(globalThis, real);
      this.clearAll();
    };
  }

  /** How many timers are set. */
  count(): number {
    return this.timers.size;
  }

  /** Forgets every timer. */
  clearAll(): void {
    this.timers.clear();
    this.queue = [];
  }

  /** Sets the date `ms` later (or earlier): timers keep their course, each still due after the time it had left. */
  jump(ms: number): void {
    this.now += ms;
    for (const timer of this.timers.values()) timer.at += ms;
    this.queue = this.queue.map((entry) => ({ ...entry, at: entry.at + ms }));
  }

  /** Moves time `ms` on, firing each timer due meanwhile in turn, with a turn of the event loop after each. */
  async advanceBy(ms: number): Promise<void> {
    const until = this.now + ms;
    this.moving = true;
    try {
      await turn();
      for (let timer = this.due(until); timer !== undefined; timer = this.due(until)) {
        this.now = timer.at;
        this.fire(timer);
        await turn();
      }
      this.now = Math.max(this.now, until);
    } finally {
      this.moving = false;
    }
  }

  /** Moves time to the next timer and fires it (nothing if no timer is set). */
  async advanceToNext(): Promise<void> {
    await turn();
    const timer = this.due(Number.POSITIVE_INFINITY);
    if (timer === undefined) return;
    this.now = timer.at;
    this.moving = true;
    try {
      this.fire(timer);
    } finally {
      this.moving = false;
    }
    await turn();
  }

  /** Sets `timer` due `at`. */
  schedule(timer: SimulatedTimer, at: number): void {
    timer.at = at;
    timer.version += 1;
    this.timers.set(timer.id, timer);
    this.enqueue({ timer, at, version: timer.version });
  }

  private add(callback: (...args: unknown[]) => void, delay: number | undefined, args: unknown[], repeats: boolean): SimulatedTimer {
    if (typeof callback !== 'function') throw new TypeError('The callback must be a function');
    const ms = delay === undefined || !(delay > 0) ? 0 : delay > MAX_DELAY ? 1 : Math.floor(delay);
    this.lastId += 1;
    const timer = new SimulatedTimer(this.lastId, 0, this.now, ms, repeats, callback, args, this);
    this.schedule(timer, this.now + (ms || (this.moving ? 1 : 0)));
    return timer;
  }

  private clear(handle: unknown): void {
    if (handle === undefined || handle === null) return;
    this.timers.delete(handle instanceof SimulatedTimer ? handle.id : Number(handle));
  }

  /** Runs `timer`'s callback; an interval is due again after its delay. */
  private fire(timer: SimulatedTimer): void {
    if (timer.repeats) this.schedule(timer, timer.at + Math.max(1, timer.delay));
    else this.timers.delete(timer.id);
    timer.callback(...timer.args);
  }

  /** Takes the first timer due at or before `until` off the queue, skipping cleared and rescheduled ones. */
  private due(until: number): SimulatedTimer | undefined {
    for (let top = this.queue[0]; top !== undefined && top.at <= until; top = this.queue[0]) {
      this.queue.shift();
      if (this.timers.get(top.timer.id) === top.timer && top.version === top.timer.version) return top.timer;
    }
    return undefined;
  }

  /** Puts `entry` in the queue behind every entry due before it (few timers are set at once: a sorted array does). */
  private enqueue(entry: QueueEntry): void {
    let low = 0;
    let high = this.queue.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      const other = this.queue[middle];
      if (other !== undefined && before(other, entry)) low = middle + 1;
      else high = middle;
    }
    this.queue.splice(low, 0, entry);
  }
}
