import net from 'node:net';
import tls from 'node:tls';

export type TlsProtocol = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface SmtpReply {
  code: number;
  lines: string[];
}

// OpenSSL 3.0 rates SHA-1 and MD5 handshake signatures below security level 1 (its default),
// so TLSv1 and TLSv1.1 need level 0 (OpenSSL CHANGES.md, 3.0). The server sets it too.
const LEGACY_CIPHERS = 'DEFAULT:@SECLEVEL=0';

// Dovecot delays its reply to an AUTH from an address that failed before by up to 15 s
// (its auth penalty), so a reply may take that long.
const REPLY_TIMEOUT_MS = 30_000;

const CLOSE_TIMEOUT_MS = 10_000;

function tlsOptions(protocol: TlsProtocol): tls.ConnectionOptions {
  return {
    minVersion: protocol,
    maxVersion: protocol,
    ciphers: LEGACY_CIPHERS,
    // The server certificate is self-signed and made for this run.
    rejectUnauthorized: false,
  };
}

/**
 * SMTP client that sends one command at a time and waits for its reply (no pipelining),
 * so every command in the transcript lines up with the reply the server gave to it.
 */
export class SmtpClient {
  readonly transcript: string[] = [];

  private socket: net.Socket;
  private received = '';
  private replyLines: string[] = [];
  private replies: SmtpReply[] = [];
  private wakeReader: (() => void) | undefined;
  private closed = false;
  private socketError: Error | undefined;

  private constructor(
    readonly name: string,
    socket: net.Socket,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  /**
   * Connects from `clientIp` to 127.0.0.1:`port`. With `implicitTls` the TLS handshake
   * starts at once, as on the smtps port (RFC 8314).
   */
  static async open(options: {
    name: string;
    port: number;
    clientIp: string;
    implicitTls?: TlsProtocol;
  }): Promise<SmtpClient> {
    const address = { host: '127.0.0.1', port: options.port, localAddress: options.clientIp };

    if (options.implicitTls) {
      const socket = tls.connect({ ...address, ...tlsOptions(options.implicitTls) });
      const client = new SmtpClient(options.name, socket);
      await client.waitForEvent(socket, 'secureConnect', `TLS handshake on port ${options.port}`);
      return client;
    }

    const socket = net.connect(address);
    const client = new SmtpClient(options.name, socket);
    await client.waitForEvent(socket, 'connect', `TCP connect to port ${options.port}`);
    return client;
  }

  /** Returns the negotiated TLS version, or undefined before STARTTLS on a plain connection. */
  get tlsProtocol(): string | undefined {
    if (this.socket instanceof tls.TLSSocket) {
      return this.socket.getProtocol() ?? undefined;
    }
    return undefined;
  }

  /** Reads the next reply and throws unless its code is `expected`. */
  async expect(expected: number, after: string): Promise<SmtpReply> {
    const reply = await this.readReply(after);
    if (reply.code !== expected) {
      const text = reply.lines.join(' | ');
      throw new Error(`${this.name}: ${after} got "${text}", expected ${expected}`);
    }
    return reply;
  }

  /**
   * Sends one command and checks the reply code. `transcriptLine` replaces the command in
   * the transcript and in errors, so that passwords stay out of both.
   */
  async command(line: string, expected: number, transcriptLine = line): Promise<SmtpReply> {
    this.transcript.push(`C: ${transcriptLine}`);
    this.socket.write(`${line}\r\n`);
    return this.expect(expected, `"${transcriptLine}"`);
  }

  /** Sends a message body after DATA got 354, with dot-stuffing (RFC 5321 section 4.5.2). */
  async sendData(lines: string[]): Promise<SmtpReply> {
    const stuffed = lines.map((line) => (line.startsWith('.') ? `.${line}` : line));
    this.transcript.push(...stuffed.map((line) => `C: ${line}`), 'C: .');
    this.socket.write(`${stuffed.join('\r\n')}\r\n.\r\n`);
    return this.expect(250, 'end of DATA');
  }

  /** Runs STARTTLS and the TLS handshake on the open connection. */
  async startTls(protocol: TlsProtocol): Promise<void> {
    await this.command('STARTTLS', 220);

    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = tls.connect({ socket: plain, ...tlsOptions(protocol) });
    this.socket = secure;
    this.attach(secure);
    await this.waitForEvent(secure, 'secureConnect', 'TLS handshake after STARTTLS');
  }

  /** Sends QUIT and waits until the server closes the connection. */
  async quit(): Promise<void> {
    await this.command('QUIT', 221);
    this.socket.end();

    const deadline = Date.now() + CLOSE_TIMEOUT_MS;
    while (!this.closed && Date.now() < deadline) {
      await this.waitForInput(deadline - Date.now());
    }
    if (!this.closed) {
      this.socket.destroy();
      throw new Error(`${this.name}: server did not close the connection after QUIT`);
    }
  }

  /** Closes the connection at once. Used after an error, when QUIT may not get through. */
  destroy(): void {
    this.socket.destroy();
  }

  private attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', (error: Error) => {
      this.socketError = error;
      this.wake();
    });
  }

  private receive(chunk: Buffer): void {
    this.received += chunk.toString('latin1');

    let end = this.received.indexOf('\r\n');
    while (end >= 0) {
      const line = this.received.slice(0, end);
      this.received = this.received.slice(end + 2);
      this.transcript.push(`S: ${line}`);
      this.replyLines.push(line);

      // The last line of a reply has a space (or nothing) after the code, RFC 5321 section 4.2.1.
      if (/^\d{3}(?: |$)/.test(line)) {
        this.replies.push({ code: Number(line.slice(0, 3)), lines: this.replyLines });
        this.replyLines = [];
      }
      end = this.received.indexOf('\r\n');
    }
    this.wake();
  }

  private async readReply(after: string): Promise<SmtpReply> {
    const deadline = Date.now() + REPLY_TIMEOUT_MS;

    for (;;) {
      const reply = this.replies.shift();
      if (reply) {
        return reply;
      }
      if (this.socketError) {
        throw new Error(`${this.name}: ${after} failed: ${this.socketError.message}`);
      }
      if (this.closed) {
        throw new Error(`${this.name}: server closed the connection before replying to ${after}`);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(`${this.name}: no reply to ${after} within ${REPLY_TIMEOUT_MS} ms`);
      }
      await this.waitForInput(remaining);
    }
  }

  private waitForInput(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.wakeReader = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private wake(): void {
    const wakeReader = this.wakeReader;
    this.wakeReader = undefined;
    wakeReader?.();
  }

  private waitForEvent(socket: net.Socket, event: string, operation: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`${this.name}: ${operation} timed out after ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);

      socket.once(event, () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error: Error) => {
        clearTimeout(timer);
        reject(new Error(`${this.name}: ${operation} failed: ${error.message}`));
      });
    });
  }
}
