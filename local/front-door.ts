// The local cloud's one endpoint: routes each request by the service in its SigV4 credential scope.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LambdaHost } from './lambda-host';

/** Something that serves one AWS service's HTTP API (the strict emulators). */
export interface ServiceEmulator {
  handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;
}

export interface FrontDoorOptions {
  /** Port to listen on, 0 for a free one. */
  port: number;
  /** moto_server's port: every service not served here goes there. */
  motoPort: number;
  lambdas: LambdaHost;
  emulators: Record<string, ServiceEmulator>;
  /** Called for each routed request (service, operation path, status), for debugging and tests. */
  onRequest?: (entry: { service: string; method: string; path: string; status: number }) => void;
}

/** The service name from `Credential=AKID/date/region/service/aws4_request` (header or presigned query). */
export function credentialScopeService(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  const scope = auth ? /Credential=([^,\s]+)/.exec(auth)?.[1] : new URL(req.url ?? '/', 'http://x').searchParams.get('X-Amz-Credential');
  return scope?.split('/')[3];
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export class FrontDoor {
  private server?: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly options: FrontDoorOptions) {}

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { message: `front door: ${(error as Error).message}` });
        else res.destroy(error as Error);
      });
    });
    // Large Glacier parts and S3 uploads take their time; Node's default 5-minute request timeout is no help here.
    server.requestTimeout = 0;
    // Idle keep-alive connections stay open until their client closes them (close() ends the rest): a server-side close
    // racing a client's next request on that socket is a "socket hang up", retried by the SDK even for calls that are
    // not idempotent, and seen under load as duplicate requests no real endpoint would cause.
    server.keepAliveTimeout = 0;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? new Error(`port ${this.options.port} is already in use; choose another with --port`) : error),
      );
      server.listen(this.options.port, '127.0.0.1', () => resolve());
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const service = credentialScopeService(req) ?? 'unsigned';
    if (this.options.onRequest) {
      res.once('finish', () => this.options.onRequest?.({ service, method: req.method ?? 'GET', path: req.url ?? '/', status: res.statusCode }));
    }
    const emulator = this.options.emulators[service];
    if (emulator) return emulator.handle(req, res);
    if (service === 'lambda') return this.invokeLambda(req, res);
    return this.forwardToMoto(req, res);
  }

  private async invokeLambda(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const match = INVOKE_PATH.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      // Only Invoke runs here; the stack's functions are not managed through the Lambda API locally.
      return sendJson(
        res,
        400,
        { Type: 'User', message: `The local cloud serves only Lambda Invoke, not ${req.method} ${url.pathname}` },
        {
          'x-amzn-errortype': 'InvalidRequestContentException',
        },
      );
    }
    const body = (await readBody(req)).toString('utf8');
    const invocationType = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
    if (invocationType === 'Event') {
      void this.options.lambdas.invoke(match[1], body);
      res.writeHead(202).end();
      return;
    }
    const outcome = await this.options.lambdas.invoke(match[1], body);
    if (outcome.statusCode !== 200) {
      return sendJson(res, outcome.statusCode, JSON.parse(outcome.payload), { 'x-amzn-errortype': outcome.functionError ?? 'ServiceException' });
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(outcome.payload),
      'x-amz-executed-version': '$LATEST',
      ...(outcome.functionError ? { 'x-amz-function-error': outcome.functionError } : {}),
    });
    res.end(outcome.payload);
  }

  private forwardToMoto(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const upstream = http.request(
        { host: '127.0.0.1', port: this.options.motoPort, method: req.method, path: req.url, headers: req.headers, agent: this.agent },
        (reply) => {
          res.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(res);
          reply.once('end', resolve);
          reply.once('error', reject);
        },
      );
      upstream.once('error', reject);
      req.pipe(upstream);
    });
  }
}
