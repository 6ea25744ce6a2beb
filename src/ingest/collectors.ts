import type { ReportEvent } from '../events.js';
import type { LocatedEvent } from '../store/clickhouse/writer.js';
import { EventColumnsBuilder, type EventColumns } from './event-columns.js';

/** The events of one batch in the form a store writes, with their counts. */
export interface CollectedEvents<E> {
  events: E;
  messageCount: number;
  failureCount: number;
}

/**
 * Collects the events that the correlators emit, in the form the store writes. `lineOffset`
 * returns the byte offset of the log line being read, which is the line that completed the
 * event, because correlators emit events while they read a line.
 */
export interface EventCollector<E> {
  add(event: ReportEvent, lineOffset: () => number): void;
  /** Returns the events since the last take and begins an empty batch. */
  take(): CollectedEvents<E>;
}

/** Events as columns for DuckDB, which keeps no line offsets. */
export class ColumnsCollector implements EventCollector<EventColumns> {
  private readonly builder = new EventColumnsBuilder();

  add(event: ReportEvent): void {
    if (event.kind === 'message') this.builder.addMessage(event);
    else this.builder.addFailure(event);
  }

  take(): CollectedEvents<EventColumns> {
    const events = this.builder.take();
    return { events, messageCount: events.messageCount, failureCount: events.failureCount };
  }
}

/** Events with the offset of their line, for ClickHouse, whose event ids include it. */
export class LocatedCollector implements EventCollector<LocatedEvent[]> {
  private events: LocatedEvent[] = [];
  private messages = 0;

  add(event: ReportEvent, lineOffset: () => number): void {
    this.events.push({ event, lineOffset: lineOffset() });
    if (event.kind === 'message') this.messages++;
  }

  take(): CollectedEvents<LocatedEvent[]> {
    const events = this.events;
    const messageCount = this.messages;
    this.events = [];
    this.messages = 0;
    return { events, messageCount, failureCount: events.length - messageCount };
  }
}
