/**
 * Time-ordered queue of log lines still to be written. Sessions are planned whole when they
 * start, and their lines wait here until the simulated clock reaches them, which interleaves
 * concurrent sessions as syslog does.
 */

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const DAY = 24 * 60 * MINUTE;

/** Contribution of a line to the truth, counted when the line is written. */
export type Tally =
  | {
      kind: 'message';
      account: string;
      saslMechanism: string;
      senderAddress: string;
      clientIp: string;
      tlsProtocol: string;
      recipients: number;
    }
  | { kind: 'failure'; attemptedUsername: string | null; clientIp: string };

export interface Entry {
  /** Milliseconds since the epoch, UTC. */
  time: number;
  /** Insertion order, so that lines with the same time keep their planned order. */
  seq: number;
  /** Text after `TIMESTAMP HOST `; null for an action. */
  text: string | null;
  tally: Tally | null;
  action: (() => void) | null;
}

export class Schedule {
  private readonly heap: Entry[] = [];
  private staged: Entry[] = [];
  private seq = 0;
  /** Lines in the queue, not counting actions. */
  pendingLines = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Adds a line to the plan being built; `commit` or `discard` ends the plan. */
  stage(time: number, text: string, tally: Tally | null = null): void {
    this.staged.push({ time, seq: this.seq++, text, tally, action: null });
  }

  get stagedLines(): number {
    return this.staged.length;
  }

  commit(): void {
    for (const entry of this.staged) this.push(entry);
    this.pendingLines += this.staged.length;
    this.staged = [];
  }

  discard(): void {
    this.staged = [];
  }

  at(time: number, action: () => void): void {
    this.push({ time, seq: this.seq++, text: null, tally: null, action });
  }

  pop(): Entry | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      this.siftDown(0);
    }
    if (top !== undefined && top.text !== null) this.pendingLines--;
    return top;
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!isBefore(entry, heap[parent])) break;
      heap[index] = heap[parent];
      index = parent;
    }
    heap[index] = entry;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const entry = heap[start];
    const length = heap.length;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && isBefore(heap[right], heap[left]) ? right : left;
      if (!isBefore(heap[child], entry)) break;
      heap[index] = heap[child];
      index = child;
    }
    heap[index] = entry;
  }
}

function isBefore(a: Entry, b: Entry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

interface Process {
  pid: number;
  busyUntil: number;
  uses: number;
}

/** Postfix's default `max_idle` (100 s) and `max_use` (100 connections or jobs). */
const MAX_IDLE_MS = 100_000;
const MAX_USE = 100;

/**
 * Process ids of one Postfix program. A process serves one job at a time and is reused until it
 * was idle for `max_idle` or served `max_use` jobs, so one smtpd pid carries many sessions one
 * after another and concurrent sessions have different pids.
 */
export class ProcessPool {
  private processes: Process[] = [];

  constructor(private readonly pids: PidAllocator) {}

  /** Returns a pid that is free at `time` and marks it busy until `release`. */
  acquire(time: number): number {
    this.processes = this.processes.filter((process) => {
      const isIdle = process.busyUntil <= time;
      const retired = isIdle && (process.uses >= MAX_USE || time - process.busyUntil > MAX_IDLE_MS);
      if (retired) this.pids.free(process.pid);
      return !retired;
    });

    let chosen = this.processes.find(
      (process) => process.busyUntil <= time && process.uses < MAX_USE,
    );
    if (chosen === undefined) {
      chosen = { pid: this.pids.allocate(), busyUntil: time, uses: 0 };
      this.processes.push(chosen);
    }
    chosen.busyUntil = Infinity;
    chosen.uses++;
    return chosen.pid;
  }

  release(pid: number, time: number): void {
    const process = this.processes.find(
      (candidate) => candidate.pid === pid && candidate.busyUntil === Infinity,
    );
    if (process === undefined) throw new Error(`pid ${pid} was released but is not busy`);
    process.busyUntil = time;
  }
}

/** Linux-style increasing pids that wrap at `pid_max` and skip pids still in use. */
export class PidAllocator {
  private next: number;
  private readonly alive = new Set<number>();

  constructor(
    first: number,
    private readonly pidMax = 4_194_304,
  ) {
    this.next = first;
  }

  allocate(): number {
    for (;;) {
      // Other programs on the host take pids too, so Postfix's pids are not consecutive.
      this.next += 1 + (this.next % 7 === 0 ? 3 : 0);
      if (this.next >= this.pidMax) this.next = 300;
      if (!this.alive.has(this.next)) {
        this.alive.add(this.next);
        return this.next;
      }
    }
  }

  free(pid: number): void {
    this.alive.delete(pid);
  }
}

/**
 * Unique short Postfix queue ids: ten upper-case hex digits from a 40-bit Feistel permutation of
 * a counter, so ids look random but never repeat within one log.
 */
export class QueueIds {
  private counter = 0;

  constructor(private readonly key: number) {}

  next(): string {
    const value = this.counter++;
    let left = Math.floor(value / 0x100000) & 0xfffff;
    let right = value & 0xfffff;
    for (let round = 0; round < 4; round++) {
      const mixed = (Math.imul(right ^ (this.key + round * 0x9e3779b9), 0x45d9f3b) >>> 7) & 0xfffff;
      [left, right] = [right, left ^ mixed];
    }
    return (left.toString(16).padStart(5, '0') + right.toString(16).padStart(5, '0')).toUpperCase();
  }
}
