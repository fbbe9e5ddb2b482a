/**
 * A list of AMQP endpoints (the nodes of one RabbitMQ cluster) and the one to try next.
 *
 * Guarantees:
 * - parseAmqpUrls accepts one URL or a comma-separated list; every entry must be an amqp:// or
 *   amqps:// URL with a host, or AmqpUrlListError says which entry is wrong (without echoing it:
 *   it may hold a password).
 * - describeEndpoint gives `host:port` only: the credentials of a URL never reach a log line.
 * - EndpointRotation.target is what amqplib connects to on each (re)connection attempt: its
 *   fields are read afresh every attempt, so advance() (after a failed attempt or a lost
 *   connection) makes the next attempt go to the next node, round robin. The fields carry what
 *   the URL says, exactly as amqplib reads a URL string (decoded user and password, the vhost as
 *   written, and the query's frameMax, channelMax, heartbeat, locale, maxFrameSize).
 */
import type { Options } from 'amqplib';

export class AmqpUrlListError extends Error {
  readonly code = 'AMQP_URL_LIST_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'AmqpUrlListError';
  }
}

/** Why `value` is not a usable AMQP URL list, or undefined when it is. */
export function amqpUrlListProblem(value: string): string | undefined {
  const entries = value.split(',').map((entry) => entry.trim());
  for (const [index, entry] of entries.entries()) {
    const where = entries.length > 1 ? `entry ${index + 1} of ${entries.length}` : 'the URL';
    if (entry === '') return `${where} is empty`;
    let parsed: URL;
    try {
      parsed = new URL(entry);
    } catch {
      return `${where} is not a URL`;
    }
    if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') return `${where} must be an amqp:// or amqps:// URL`;
    if (parsed.hostname === '') return `${where} has no host`;
  }
  return undefined;
}

export function parseAmqpUrls(value: string): string[] {
  const problem = amqpUrlListProblem(value);
  if (problem) throw new AmqpUrlListError(`AMQP URL list: ${problem}`);
  return value.split(',').map((entry) => entry.trim());
}

/** `host:port` of an AMQP URL, for logs. */
export function describeEndpoint(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || (parsed.protocol === 'amqps:' ? '5671' : '5672')}`;
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // a stray '%': amqplib's own parsing would also take it as written
  }
}

function connectFields(url: string): Options.Connect & { maxFrameSize?: number } {
  const parsed = new URL(url);
  const query = Object.fromEntries(parsed.searchParams.entries());
  const number = (value: string | undefined) => (value === undefined ? undefined : Number.parseInt(value, 10));
  return {
    protocol: parsed.protocol.slice(0, -1),
    hostname: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: number(parsed.port),
    // amqplib's string form defaults both to guest only when both are missing; so do we.
    username: parsed.username === '' && parsed.password === '' ? undefined : decode(parsed.username),
    password: parsed.username === '' && parsed.password === '' ? undefined : decode(parsed.password),
    vhost: parsed.pathname.length > 1 ? parsed.pathname.slice(1) : undefined,
    locale: query.locale,
    frameMax: number(query.frameMax),
    channelMax: number(query.channelMax),
    heartbeat: number(query.heartbeat),
    maxFrameSize: number(query.maxFrameSize),
  };
}

export class EndpointRotation {
  private index = 0;
  private readonly fields: ReturnType<typeof connectFields>[];
  /** Handed to amqplib's connect(); every getter reads the current endpoint. */
  readonly target: Options.Connect;

  constructor(readonly urls: readonly string[]) {
    if (urls.length === 0) throw new AmqpUrlListError('AMQP URL list: no URL');
    this.fields = urls.map(connectFields);
    const target: Record<string, unknown> = {};
    for (const key of ['protocol', 'hostname', 'port', 'username', 'password', 'vhost', 'locale', 'frameMax', 'channelMax', 'heartbeat', 'maxFrameSize'] as const) {
      Object.defineProperty(target, key, { enumerable: true, get: () => this.fields[this.index][key] });
    }
    this.target = target as Options.Connect;
  }

  /** `host:port` of the endpoint the next attempt goes to. */
  get current(): string {
    return describeEndpoint(this.urls[this.index]);
  }

  /** The next attempt goes to the next endpoint (no-op with one). */
  advance(): void {
    this.index = (this.index + 1) % this.urls.length;
  }
}
