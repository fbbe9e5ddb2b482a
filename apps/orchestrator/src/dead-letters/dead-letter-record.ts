/**
 * What a message taken from `<prefix>.dead-letter` becomes as a row, and what a stored row is
 * published as when an operator replays it. Pure: no I/O, the clock is passed in.
 *
 * Guarantees:
 * - Any message gives a row: a body that is not JSON, no headers, headers of any AMQP type.
 *   Text PostgreSQL cannot store (NUL, unpaired surrogates) is replaced with U+FFFD in the text
 *   and JSON columns and said in `storageNote`; the body is always kept whole, as bytes.
 * - The key is a digest of the message exactly as the dead-letter queue holds it (body and every
 *   property and header, except the broker's `x-delivery-count`, which a redelivery adds), so
 *   the same queue entry delivered again, or taken by another replica, has the same key. A new
 *   parking of the same command is a different message: our copies carry their own
 *   `x-dead-lettered-at`, the broker's carry a fresh `x-death` time, and a replayed message
 *   carries `x-replay-of` (kept if it is parked again).
 * - The reason is ours (`x-dead-letter-reason`) when present, else the broker's
 *   (`x-first-death-reason`, with the `x-death` count); the source queue likewise
 *   (`x-dead-letter-source`, `x-first-death-queue`, the routing key).
 * - A replay republishes the body and properties as stored, without the dead-letter and broker
 *   headers and the return counts (a replay starts from zero), plus `x-replay-of` and `x-replayed-by`.
 */
import { createHash } from 'node:crypto';
import { parseCorrelationId, SagaHeaders } from '#saga/core';
import type { DeadLetterKind, NewDeadLetter, ReasonOrigin } from '#saga/persistence';
import type { Options } from 'amqplib';

/** The parts of an amqplib message this needs. */
export interface ParkedMessage {
  content: Buffer;
  fields: { routingKey: string };
  properties: object & { headers?: Record<string, unknown>; correlationId?: unknown; messageId?: unknown; contentType?: unknown };
}

/** Headers a replay drops: why and when it was parked, by us or by the broker. */
const PARKING_HEADERS = new Set([
  SagaHeaders.deadLetterReason,
  SagaHeaders.deadLetterSource,
  SagaHeaders.deadLetteredAt,
  SagaHeaders.replayOf,
  SagaHeaders.replayedBy,
  'x-death',
  'x-first-death-reason',
  'x-first-death-queue',
  'x-first-death-exchange',
  'x-last-death-reason',
  'x-last-death-queue',
  'x-last-death-exchange',
  'x-delivery-count',
  'x-saga-returns', // a classic queue's return count (libs/messaging returns.ts): a replay starts from zero
]);

/** Properties a replay copies from the stored message. */
const REPLAYED_PROPERTIES = ['contentType', 'contentEncoding', 'messageId', 'correlationId', 'replyTo', 'timestamp', 'type', 'appId', 'priority'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isSagaUuid(value: string | null): value is string {
  return value !== null && UUID.test(value);
}

/** AMQP values as JSON: bigints as numbers (or strings beyond 2^53), buffers as base64, dates as ISO. */
function toJson(value: unknown, notes: Set<string>): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return storable(value, notes);
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'boolean') return value;
  if (Buffer.isBuffer(value)) return { base64: value.toString('base64') };
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => toJson(item, notes));
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => [storable(key, notes), toJson(item, notes)]),
    );
  }
  return String(value);
}

/** Text PostgreSQL can hold: NUL and unpaired surrogates become U+FFFD (noted). */
function storable(text: string, notes: Set<string>): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = text.replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
  if (cleaned !== text) notes.add('text PostgreSQL cannot store (NUL or an unpaired surrogate) was replaced with U+FFFD');
  return cleaned;
}

function text(value: unknown, notes: Set<string>): string | null {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return storable(value.toString('utf8'), notes);
  return storable(String(value), notes);
}

/** An integer column's value (int4 unless `max` says otherwise), or null. */
function integer(value: unknown, max = 2_147_483_647): number | null {
  const n = typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  return Number.isSafeInteger(n) && Math.abs(n) <= max ? n : null;
}

/** Sorted keys at every level, so equal messages give equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (typeof item === 'bigint') return `${item.toString()}n`;
    if (item && typeof item === 'object' && !Array.isArray(item) && !Buffer.isBuffer(item)) {
      return Object.fromEntries(
        Object.keys(item as object)
          .sort()
          .map((key) => [key, (item as Record<string, unknown>)[key]]),
      );
    }
    return item;
  });
}

/** Identifies one entry of the dead-letter queue across its redeliveries (see the header). */
export function messageKey(message: ParkedMessage): string {
  const { headers = {}, ...properties } = message.properties as { headers?: Record<string, unknown> };
  const { 'x-delivery-count': _count, ...kept } = headers;
  const hash = createHash('sha256');
  hash.update(canonical({ properties, headers: kept }));
  hash.update('\n');
  hash.update(message.content);
  return hash.digest('hex');
}

function firstDeath(headers: Record<string, unknown>): { reason?: unknown; queue?: unknown; count?: unknown; time?: unknown } | undefined {
  const deaths = headers['x-death'];
  return Array.isArray(deaths) && deaths.length > 0 && typeof deaths[0] === 'object' && deaths[0] !== null ? (deaths[0] as Record<string, unknown>) : undefined;
}

/** Times beyond year 9999 are no time PostgreSQL (or anybody) can use. */
const LATEST_MS = Date.UTC(9999, 11, 31);

/** The time the broker recorded (a timestamp: seconds), or our own header (milliseconds). */
function deadLetteredAt(headers: Record<string, unknown>, death: ReturnType<typeof firstDeath>, now: number): Date {
  const ours = integer(headers[SagaHeaders.deadLetteredAt], LATEST_MS);
  if (ours !== null && ours > 0) return new Date(ours);
  // amqplib gives a header timestamp as { '!': 'timestamp', value: seconds }.
  const raw = death?.time;
  const time = raw && typeof raw === 'object' && '!' in raw ? (raw as { value?: unknown }).value : raw;
  const seconds = integer(time, LATEST_MS / 1000);
  if (seconds !== null && seconds > 0) return new Date(seconds * 1000);
  return new Date(now);
}

function parsedBody(content: Buffer): Record<string, unknown> | undefined {
  try {
    const body = JSON.parse(content.toString('utf8')) as unknown;
    return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The row for a message taken from the dead-letter queue; `replyQueue` tells replies apart. */
export function deadLetterRecord(message: ParkedMessage, replyQueue: string, now: number): NewDeadLetter {
  const notes = new Set<string>();
  const rawHeaders = message.properties.headers ?? {};
  const { headers: _headers, ...rawProperties } = message.properties as Record<string, unknown>;
  const death = firstDeath(rawHeaders);
  const ourReason = rawHeaders[SagaHeaders.deadLetterReason];
  const brokerReason = rawHeaders['x-first-death-reason'] ?? death?.reason;
  const reasonOrigin: ReasonOrigin = ourReason !== undefined ? 'ours' : brokerReason !== undefined ? 'broker' : 'unknown';
  const sourceQueue = text(rawHeaders[SagaHeaders.deadLetterSource] ?? rawHeaders['x-first-death-queue'] ?? death?.queue ?? (message.fields.routingKey || undefined), notes);
  const correlationId = text(message.properties.correlationId, notes);
  const fromHeaders = rawHeaders[SagaHeaders.sagaId] !== undefined;
  const address = parseCorrelationId(correlationId);
  const body = parsedBody(message.content);
  const kind: DeadLetterKind = fromHeaders || typeof body?.pattern === 'string' ? 'command' : sourceQueue === replyQueue ? 'reply' : 'unknown';
  const direction = text(fromHeaders ? rawHeaders[SagaHeaders.direction] : address?.direction, notes);
  return {
    messageKey: messageKey(message),
    sourceQueue,
    reason: text(ourReason ?? brokerReason, notes),
    reasonOrigin,
    deathCount: integer(death?.count),
    sagaId: text(fromHeaders ? rawHeaders[SagaHeaders.sagaId] : address?.sagaId, notes),
    step: text(fromHeaders ? rawHeaders[SagaHeaders.step] : address?.step, notes),
    direction,
    attempt: integer(fromHeaders ? rawHeaders[SagaHeaders.attempt] : address?.attempt),
    kind,
    pattern: typeof body?.pattern === 'string' ? text(body.pattern, notes) : null,
    messageId: text(message.properties.messageId, notes),
    correlationId,
    contentType: text(message.properties.contentType, notes),
    properties: toJson(rawProperties, notes) as Record<string, unknown>,
    headers: message.properties.headers === undefined ? null : (toJson(rawHeaders, notes) as Record<string, unknown>),
    body: message.content,
    replayOf: integer(rawHeaders[SagaHeaders.replayOf], Number.MAX_SAFE_INTEGER),
    storageNote: notes.size > 0 ? [...notes].join('; ') : null,
    deadLetteredAt: deadLetteredAt(rawHeaders, death, now),
  };
}

/** The smallest row a message gives, for when its full row was refused: key, source, body. */
export function bareRecord(full: NewDeadLetter, refusal: string): NewDeadLetter {
  return {
    ...full,
    pattern: null,
    properties: {},
    headers: null,
    storageNote: `only the body was stored: the full row was refused (${refusal.slice(0, 200)})`,
  };
}

/** What a stored dead letter is published as when `actor` replays it (dead letter `id`). */
export function replayProperties(stored: { properties: Record<string, unknown>; headers: Record<string, unknown> | null }, id: number, actor: string): Options.Publish {
  const headers = Object.fromEntries(Object.entries(stored.headers ?? {}).filter(([name]) => !PARKING_HEADERS.has(name)));
  const properties: Options.Publish = { persistent: true, mandatory: true, headers: { ...headers, [SagaHeaders.replayOf]: id, [SagaHeaders.replayedBy]: actor } };
  for (const name of REPLAYED_PROPERTIES) {
    const value = stored.properties[name];
    if (value !== null && value !== undefined) (properties as Record<string, unknown>)[name] = value;
  }
  return properties;
}
