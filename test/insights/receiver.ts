import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  contentType: string | undefined;
  body: unknown;
}

/**
 * Start a webhook receiver on 127.0.0.1 that responds to each request with the next status of
 * `statuses` (the last one repeats) and records the requests.
 */
export async function startReceiver(statuses: number[] = [200]) {
  const received: Received[] = [];
  let answered = 0;
  const server: Server = createServer(async (request, response) => {
    const body = JSON.parse(await readBody(request));
    received.push({
      method: request.method ?? '',
      contentType: request.headers['content-type'],
      body,
    });
    const status = statuses[Math.min(answered++, statuses.length - 1)];
    response.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks/smtp-auth`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
