/**
 * A fake paper-source server on loopback (Hugging Face daily papers, the arXiv API), for tests that
 * drive the real sources over real HTTP. Routes answer from fixtures; responses queued with
 * `enqueue` are served first, in order, to program faults: a status with headers (429 with
 * Retry-After, 500), a body cut off mid-way, a connection destroyed, or no answer at all.
 * Every request is recorded with its query and arrival time.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedSourceRequest {
  method: string;
  /** The path without the query string, e.g. `/api/daily_papers`. */
  path: string;
  /** The query string's parameters, decoded. */
  query: Record<string, string>;
  /** The raw query string, without `?`. */
  rawQuery: string;
  headers: http.IncomingHttpHeaders;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
}

export interface ProgrammedResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /**
   * Send only this many characters of `body`, as a complete response (its length declared as the
   * cut length): what a client sees from a proxy that ended the stream early.
   */
  cutAt?: number;
  /** Declare the full length, write this many characters, then destroy the connection. */
  destroyAfter?: number;
  /** Destroy the connection without any response. */
  destroy?: boolean;
  /** Never answer (the connection stays open until the server closes). */
  hang?: boolean;
}

export type Route = (request: RecordedSourceRequest) => ProgrammedResponse;

export interface FakePaperSources {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly requests: RecordedSourceRequest[];
  /** Serves `path` with `route` when no programmed response is queued. */
  route(path: string, route: Route): void;
  /** Queues responses served, in order, before any route. */
  enqueue(...responses: ProgrammedResponse[]): void;
  close(): Promise<void>;
}

export async function startFakePaperSources(): Promise<FakePaperSources> {
  const requests: RecordedSourceRequest[] = [];
  const routes = new Map<string, Route>();
  const queued: ProgrammedResponse[] = [];
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const parsed = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedSourceRequest = {
      method: req.method ?? 'GET',
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      rawQuery: parsed.search.replace(/^\?/, ''),
      headers: req.headers,
      receivedAt: Date.now(),
    };
    requests.push(recorded);
    const route = routes.get(parsed.pathname);
    const response = queued.shift() ?? (route ? route(recorded) : { status: 404, body: 'not found' });
    send(req, res, response);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    route: (path, route) => void routes.set(path, route),
    enqueue: (...responses) => void queued.push(...responses),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function send(req: http.IncomingMessage, res: http.ServerResponse, response: ProgrammedResponse): void {
  if (response.hang) return;
  if (response.destroy) {
    req.socket.destroy();
    return;
  }
  const body = Buffer.from(response.body ?? '');
  const sent = response.cutAt !== undefined ? body.subarray(0, response.cutAt) : body;
  res.writeHead(response.status ?? 200, {
    'content-length': String(response.destroyAfter !== undefined ? body.length : sent.length),
    ...response.headers,
  });
  if (response.destroyAfter !== undefined) {
    res.write(body.subarray(0, response.destroyAfter), () => setTimeout(() => req.socket.destroy(), 20));
    return;
  }
  res.end(sent);
}

/** A port nothing listens on: bound once, then released. */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
