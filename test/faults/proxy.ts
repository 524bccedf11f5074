/**
 * A loopback HTTP proxy in front of the moto server that injects faults the way AWS produces them:
 * throttling (in each protocol's own error shape, or 429), 500/503, connection resets before the
 * request is forwarded, lost responses (forwarded, applied, then the connection reset), and added
 * latency — per service and operation, at configured rates, from a fixed seed so a failing run
 * can be replayed. Every request is logged (sequence, listener label, service, operation, what was
 * injected, status), and a request can be held (never answered) so a test can kill the client at
 * an exact point of its work.
 *
 * Service and operation are read from the request as the SDK sends it: the SigV4 credential scope
 * names the service; the operation comes from `X-Amz-Target` (JSON protocols), `Action=` (query
 * protocols), or the `/operation/<Op>` path (Smithy RPC v2 CBOR, e.g. CloudWatch).
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Injected = 'throttle' | '5xx' | 'reset' | 'lost-response' | 'error' | null;

export interface FaultRule {
  /** Service signing name (`ecs`, `elasticloadbalancing`, `dynamodb`, ...); omitted = every service. */
  service?: string;
  /** Operation name (`UpdateService`, `PutItem`, ...); omitted = every operation. */
  operation?: string;
  /** Probability (0..1) of a throttling error instead of forwarding. */
  throttle?: number;
  /** Probability of a 500 or 503 instead of forwarding. */
  serverError?: number;
  /** Probability of a connection reset before the request is forwarded (not applied). */
  reset?: number;
  /** Probability that the request is forwarded and applied, and then the connection is reset. */
  lostResponse?: number;
  /** Added latency in ms before forwarding: a fixed value or a [min, max] range. */
  latencyMs?: number | [number, number];
  /**
   * Answer every matching request with this AWS error instead of forwarding it (deterministic:
   * no draw from the seed). `code` may differ by protocol, as AWS's do: e.g. an expired session
   * token is `ExpiredTokenException` in JSON protocols, `ExpiredToken` in query ones, and
   * `RequestExpired` for EC2. Logged with `injected: 'error'`. The first matching rule with an
   * `error` wins.
   */
  error?: {
    code: string | Partial<Record<'json' | 'query' | 'ec2' | 'cbor' | 'rest', string>>;
    /** HTTP status (default 400). */
    status?: number;
    message?: string;
  };
}

export interface LogEntry {
  seq: number;
  /** Which listener the request came through (see `listen(label)`); `main` for the first. */
  label: string;
  service: string;
  operation: string;
  injected: Injected;
  /** HTTP status returned to the client (null when the connection was reset or the request held). */
  status: number | null;
  startedAt: number;
  endedAt: number | null;
  /** The first 2 KiB of the request body (to tell e.g. a lock PutItem from a release PutItem). */
  body: string;
}

export interface FaultProxyOptions {
  /** moto's endpoint, e.g. http://127.0.0.1:5000 */
  target: string;
  seed?: number;
  rules?: FaultRule[];
}

interface Hold {
  predicate: (e: LogEntry) => boolean;
  resolve: (e: LogEntry) => void;
}

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function identify(req: IncomingMessage, body: string): { service: string; operation: string } {
  const auth = String(req.headers.authorization ?? '');
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(auth);
  const service = scope?.[1] ?? 'unknown';
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) return { service, operation: target.split('.').pop()! };
  const cbor = /\/operation\/([A-Za-z0-9]+)/.exec(req.url ?? '');
  if (cbor) return { service, operation: cbor[1]! };
  const action = /(?:^|&)Action=([A-Za-z0-9]+)/.exec(body) ?? /[?&]Action=([A-Za-z0-9]+)/.exec(req.url ?? '');
  if (action) return { service, operation: action[1]! };
  return { service, operation: `${req.method} ${(req.url ?? '').split('?')[0]}` };
}

type Protocol = 'json' | 'query' | 'ec2' | 'cbor' | 'rest';

function protocolOf(req: IncomingMessage, service: string): Protocol {
  if (req.headers['x-amz-target']) return 'json';
  if (String(req.headers['smithy-protocol'] ?? '') === 'rpc-v2-cbor' || /\/operation\//.test(req.url ?? ''))
    return 'cbor';
  if (service === 'ec2') return 'ec2';
  if (String(req.headers['content-type'] ?? '').includes('x-www-form-urlencoded')) return 'query';
  return 'rest';
}

/** An error response in the shape the client's protocol parser reads as that error code. */
function errorResponse(protocol: Protocol, status: number, code: string, message: string) {
  const requestId = randomUUID();
  switch (protocol) {
    case 'json':
      return {
        status,
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amzn-errortype': code,
          'x-amzn-requestid': requestId,
        },
        body: JSON.stringify({ __type: code, message }),
      };
    case 'query':
      return {
        status,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body: `<ErrorResponse><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    case 'ec2':
      return {
        status,
        headers: { 'content-type': 'text/xml' },
        body: `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
      };
    default:
      // CBOR and REST bodies are not worth forging: the status alone (429 / 5xx) classifies them.
      return { status, headers: { 'x-amzn-requestid': requestId }, body: '' };
  }
}

export class FaultProxy {
  readonly log: LogEntry[] = [];
  /** Random faults injected so far (fixed `error` answers are counted in `errorCount`). */
  readonly injectedCount: Record<Exclude<Injected, null | 'error'>, number> = {
    throttle: 0,
    '5xx': 0,
    reset: 0,
    'lost-response': 0,
  };
  /** Requests answered with a rule's fixed `error`. */
  errorCount = 0;
  private rules: FaultRule[];
  private random: () => number;
  private readonly target: URL;
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private holds: Hold[] = [];
  private seq = 0;

  constructor(opts: FaultProxyOptions) {
    this.target = new URL(opts.target);
    this.rules = opts.rules ?? [];
    this.random = prng(opts.seed ?? 1);
  }

  /** Replace the rules (and optionally restart the random sequence from a seed). */
  configure(rules: FaultRule[], seed?: number): void {
    this.rules = rules;
    if (seed !== undefined) this.random = prng(seed);
  }

  /** Open a listener; requests through it are logged with `label`. Returns its http://127.0.0.1:PORT URL. */
  async listen(label = 'main'): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(label, req, res).catch(() => {
        res.destroy();
      });
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /**
   * The next request matching `predicate` is held: never forwarded, never answered (its socket is
   * destroyed when the proxy stops or the client dies). Resolves with its log entry when it arrives.
   */
  holdNext(predicate: (e: LogEntry) => boolean): Promise<LogEntry> {
    return new Promise((resolve) => this.holds.push({ predicate, resolve }));
  }

  /** Hold the request that would be the n-th (1-based) from now on, whatever it is. */
  holdAfter(n: number): Promise<LogEntry> {
    const at = this.seq + n;
    return this.holdNext((e) => e.seq === at);
  }

  /** Requests seen so far (optionally through one listener). */
  count(label?: string): number {
    return label ? this.log.filter((e) => e.label === label).length : this.log.length;
  }

  reset(): void {
    this.log.length = 0;
    this.holds = [];
    for (const k of Object.keys(this.injectedCount)) this.injectedCount[k as keyof typeof this.injectedCount] = 0;
    this.errorCount = 0;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private pick(service: string, operation: string): Exclude<Injected, 'error'> {
    const applicable = this.rules.filter(
      (r) => (!r.service || r.service === service) && (!r.operation || r.operation === operation),
    );
    // One draw per kind per request, in a fixed order, so the sequence depends only on the seed.
    for (const [kind, key] of [
      ['throttle', 'throttle'],
      ['5xx', 'serverError'],
      ['reset', 'reset'],
      ['lost-response', 'lostResponse'],
    ] as const) {
      const p = Math.max(0, ...applicable.map((r) => r[key] ?? 0));
      if (p > 0 && this.random() < p) return kind;
    }
    return null;
  }

  private latency(service: string, operation: string): number {
    let ms = 0;
    for (const r of this.rules) {
      if ((r.service && r.service !== service) || (r.operation && r.operation !== operation) || !r.latencyMs) continue;
      const v = Array.isArray(r.latencyMs)
        ? r.latencyMs[0] + this.random() * (r.latencyMs[1] - r.latencyMs[0])
        : r.latencyMs;
      ms = Math.max(ms, v);
    }
    return ms;
  }

  private async handle(label: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const text = body.toString('utf8');
    const { service, operation } = identify(req, text);
    const entry: LogEntry = {
      seq: ++this.seq,
      label,
      service,
      operation,
      injected: null,
      status: null,
      startedAt: Date.now(),
      endedAt: null,
      body: text.slice(0, 2048),
    };
    this.log.push(entry);
    const hold = this.holds.find((h) => h.predicate(entry));
    if (hold) {
      this.holds = this.holds.filter((h) => h !== hold);
      hold.resolve(entry);
      return; // never answered
    }
    // moto's own control endpoints pass untouched.
    const control = (req.url ?? '').startsWith('/moto-api') || (req.url ?? '').startsWith('/_patchwork');
    const fixed = control
      ? undefined
      : this.rules.find(
          (r) => r.error && (!r.service || r.service === service) && (!r.operation || r.operation === operation),
        )?.error;
    if (fixed) {
      const protocol = protocolOf(req, service);
      const code = typeof fixed.code === 'string' ? fixed.code : (fixed.code[protocol] ?? 'UnknownError');
      const err = errorResponse(protocol, fixed.status ?? 400, code, fixed.message ?? code);
      entry.injected = 'error';
      entry.status = err.status;
      entry.endedAt = Date.now();
      this.errorCount++;
      res.writeHead(err.status, { ...err.headers, 'content-length': Buffer.byteLength(err.body) });
      res.end(err.body);
      return;
    }
    const injected = control ? null : this.pick(service, operation);
    const delay = control ? 0 : this.latency(service, operation);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    entry.injected = injected;
    if (injected) this.injectedCount[injected]++;
    if (injected === 'reset') {
      entry.endedAt = Date.now();
      req.socket.destroy();
      return;
    }
    if (injected === 'throttle' || injected === '5xx') {
      const protocol = protocolOf(req, service);
      let err: ReturnType<typeof errorResponse>;
      if (injected === 'throttle') {
        err =
          protocol === 'cbor' || protocol === 'rest'
            ? errorResponse(protocol, 429, 'TooManyRequestsException', 'Rate exceeded')
            : errorResponse(
                protocol,
                400,
                protocol === 'ec2'
                  ? 'RequestLimitExceeded'
                  : protocol === 'query'
                    ? 'Throttling'
                    : 'ThrottlingException',
                'Rate exceeded',
              );
      } else {
        const status = this.random() < 0.5 ? 500 : 503;
        err = errorResponse(
          protocol,
          status,
          status === 500 ? 'InternalFailure' : 'ServiceUnavailable',
          status === 500 ? 'We encountered an internal error. Please try again.' : 'Service unavailable',
        );
      }
      entry.status = err.status;
      entry.endedAt = Date.now();
      res.writeHead(err.status, { ...err.headers, 'content-length': Buffer.byteLength(err.body) });
      res.end(err.body);
      return;
    }
    await this.forward(req, res, body, entry, injected === 'lost-response');
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    entry: LogEntry,
    loseResponse: boolean,
  ): Promise<void> {
    return new Promise((resolve) => {
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const upstream = httpRequest(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers,
        },
        (up) => {
          const chunks: Buffer[] = [];
          up.on('data', (c: Buffer) => chunks.push(c));
          up.on('end', () => {
            entry.endedAt = Date.now();
            if (loseResponse) {
              req.socket.destroy();
              resolve();
              return;
            }
            entry.status = up.statusCode ?? 502;
            const out = Buffer.concat(chunks);
            const h = { ...up.headers, 'content-length': String(out.length) };
            delete h['transfer-encoding'];
            delete h.connection;
            res.writeHead(entry.status, h);
            res.end(out);
            resolve();
          });
        },
      );
      upstream.on('error', () => {
        entry.endedAt = Date.now();
        req.socket.destroy();
        resolve();
      });
      upstream.end(body);
    });
  }
}

/** Start a proxy in front of `target` with one listener; returns it and the listener's URL. */
export async function startFaultProxy(opts: FaultProxyOptions): Promise<{ proxy: FaultProxy; url: string }> {
  const proxy = new FaultProxy(opts);
  const url = await proxy.listen('main');
  return { proxy, url };
}
