import type { LogSource } from '../sources/files.js';

const REDRAW_MS = 200;

/**
 * A one-line progress bar on standard error, drawn only on a terminal so that cron mails
 * and redirected output stay clean.
 */
export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return Boolean(this.stream.isTTY);
  }

  update(source: LogSource, bytesDone: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;

    const mb = (bytesDone / 1048576).toFixed(0);
    // A compressed file's size says nothing about its decompressed length.
    const share = source.size > 0 && !source.gzip ? Math.min(1, bytesDone / source.size) : null;
    const bar =
      share === null
        ? ''
        : `[${'#'.repeat(Math.round(share * 20)).padEnd(20)}] ${(share * 100).toFixed(0)}% `;
    this.stream.write(`\r${source.path} ${bar}${mb} MB`.slice(0, (this.stream.columns ?? 80) - 1));
    this.drawn = true;
  }

  clear(): void {
    if (!this.drawn) return;
    this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
