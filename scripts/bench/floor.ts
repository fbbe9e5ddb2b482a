/**
 * This machine's raw ceilings and a saga's path floor, measured with the product's own drivers
 * (`pg`, `amqplib`), so the benchmark can print the orchestrator's throughput as a fraction of
 * what the hardware allows, and its latency as a multiple of the least its path can take.
 *
 * - postgresTransaction: one step's durable write, like a participant's: BEGIN; INSERT a
 *   processed_commands-like row (two jsonb columns, primary key plus a unique index); UPDATE a
 *   small row (each client its own, as each saga has its own); COMMIT. `concurrency` separate
 *   clients in a closed loop. Real tables (not UNLOGGED) and `synchronous_commit = on` in every
 *   session, so each COMMIT waits for its WAL flush (as far as the server's `fsync` allows).
 * - postgresCommit: the orchestrator's kind of durable write: ONE statement (a CTE that inserts
 *   the same row and updates the client's state row) committed on its own, one round trip.
 * - amqpRoundTrip: a persistent ~300-byte JSON command with the product's headers, published with
 *   a publisher confirm to a durable queue declared with the product's queueArguments (of the
 *   deployment's queue type); consumed with manual ack on a separate connection that publishes
 *   (confirmed, persistent) a reply to a reply queue of that type and then acks; the requester consumes the reply (manual ack).
 *   Timed from publish until the reply arrived and the request's confirm came back.
 *   `concurrency` requests in flight, closed loop. Connections use TCP_NODELAY, as the product's.
 *
 * Guarantees: the three are measured one after the other, each for `durationMs` after a
 * warm-up of 10% of it that is not counted (operations completing inside the window count);
 * everything created (two tables named floor_<random>_*, queues and an exchange named
 * `<queuePrefix>.floor-*`) is removed afterwards, also when a measurement fails; a stalled
 * measurement (nothing completes for STALL_MS) fails instead of hanging.
 */
import { percentiles } from './bench-stats';
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { queueArguments, type QueueType } from '../../libs/messaging/src/topology';

export interface FloorOptions {
  postgresUrl: string /* a database you may create tables in */;
  amqpUrl: string /* a vhost you may declare queues in */;
  concurrency: number;
  durationMs: number;
  queuePrefix: string;
  /** The queues' type, as the deployment's AMQP_QUEUE_TYPE (default quorum). */
  queueType?: QueueType;
}
export interface Ceiling {
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  operations: number;
}
export interface FloorResult {
  postgresTransaction: Ceiling;
  postgresCommit: Ceiling;
  amqpRoundTrip: Ceiling;
  perSaga: { postgresTransactions: number; amqpRoundTrips: number };
  ceilingSagasPerSecond: number;
}

const STALL_MS = 30_000;

/** The hops on one saga's path that nothing can overlap: one-statement commits (the
 *  orchestrator's), step-like transactions (the participants') and command/reply round trips. */
export interface PathModel {
  commits: number;
  transactions: number;
  roundTrips: number;
}

/**
 * A saga's path at the floor: the model's hops one after another, each at its measured median,
 * with no engine work between them. At 1 in flight (nothing queues) it is the least end-to-end
 * latency this machine allows that path; at higher concurrency the medians include the floor's
 * own queueing.
 */
export function pathFloorMs(floor: Pick<FloorResult, 'postgresTransaction' | 'postgresCommit' | 'amqpRoundTrip'>, path: PathModel): number {
  return path.commits * floor.postgresCommit.p50Ms + path.transactions * floor.postgresTransaction.p50Ms + path.roundTrips * floor.amqpRoundTrip.p50Ms;
}

/** The orchestrator's throughput as a fraction of the derived ceiling (1 = at the ceiling). */
export function fractionOfCeiling(sagasPerSecond: number, floor: FloorResult): number {
  const ceiling = floor.ceilingSagasPerSecond;
  return ceiling > 0 && Number.isFinite(ceiling) ? sagasPerSecond / ceiling : Number.NaN;
}

/** Runs `op` in `concurrency` closed loops for a warm-up then `durationMs`; fails on the first
 *  error, on `failure`, or when nothing completes for STALL_MS. */
async function closedLoop(concurrency: number, durationMs: number, op: (worker: number) => Promise<void>, failure: Promise<never>): Promise<Ceiling> {
  const from = performance.now() + Math.round(durationMs / 10);
  const to = from + durationMs;
  const latencies: number[] = [];
  let stopped = false;
  let lastCompletion = performance.now();
  const worker = async (w: number): Promise<void> => {
    while (!stopped && performance.now() < to) {
      const started = performance.now();
      await op(w);
      lastCompletion = performance.now();
      if (lastCompletion >= from && lastCompletion <= to) latencies.push(lastCompletion - started);
    }
  };
  let watchdog: NodeJS.Timeout | undefined;
  const stall = new Promise<never>((_, reject) => {
    watchdog = setInterval(() => performance.now() - lastCompletion > STALL_MS && reject(new Error(`floor: no operation completed for ${STALL_MS} ms`)), 1_000);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w))), failure, stall]);
  } finally {
    stopped = true;
    clearInterval(watchdog);
  }
  const { p50, p99 } = percentiles(latencies);
  return { opsPerSecond: (latencies.length * 1000) / durationMs, p50Ms: p50, p99Ms: p99, operations: latencies.length };
}

async function measurePostgres(options: FloorOptions, failure: Promise<never>): Promise<{ transaction: Ceiling; commit: Ceiling }> {
  const tag = `floor_${randomBytes(4).toString('hex')}`;
  const commands = `${tag}_commands`;
  const state = `${tag}_state`;
  const clients: Client[] = [];
  const newClient = async (): Promise<Client> => {
    const client = new Client({ connectionString: options.postgresUrl });
    clients.push(client);
    client.on('error', () => undefined); // a dead connection fails its next query instead
    await client.connect();
    await client.query('SET synchronous_commit = on');
    return client;
  };
  let created = false;
  try {
    const admin = await newClient();
    created = true;
    await admin.query(`CREATE TABLE ${commands} (
      message_id text PRIMARY KEY, saga_id text NOT NULL, step text NOT NULL, direction text NOT NULL,
      pattern text NOT NULL, attempt integer NOT NULL, outcome jsonb NOT NULL, request jsonb,
      created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (saga_id, step, direction))`);
    await admin.query(`CREATE TABLE ${state} (id integer PRIMARY KEY, status text NOT NULL, version integer NOT NULL, updated_at timestamptz NOT NULL)`);
    await admin.query(`INSERT INTO ${state} SELECT g, 'PENDING', 0, now() FROM generate_series(0, $1::int - 1) g`, [options.concurrency]);
    const workers = await Promise.all(Array.from({ length: options.concurrency }, () => newClient()));
    const outcome = JSON.stringify({ kind: 'success', result: { orderId: randomUUID(), status: 'CREATED' } });
    const row = (w: number): unknown[] => {
      const sagaId = randomUUID();
      const request = JSON.stringify({
        pattern: 'order.create',
        data: { customerId: `customer-${w}`, items: [{ sku: 'SKU-1', quantity: 2 }], total: 42.5 },
        id: `${sagaId}/create-order/action`,
      });
      return [`${sagaId}/create-order/action`, sagaId, 'create-order', 'action', 'order.create', 1, outcome, request];
    };
    const insert = `INSERT INTO ${commands} (message_id, saga_id, step, direction, pattern, attempt, outcome, request) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)`;
    const transaction = await closedLoop(
      options.concurrency,
      options.durationMs,
      async (w) => {
        const client = workers[w];
        await client.query('BEGIN');
        try {
          await client.query(`${insert} RETURNING outcome`, row(w));
          await client.query(`UPDATE ${state} SET status = $2, version = version + 1, updated_at = now() WHERE id = $1`, [w, 'CREATED']);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      },
      failure,
    );
    const commit = await closedLoop(
      options.concurrency,
      options.durationMs,
      async (w) => {
        await workers[w].query(
          `WITH recorded AS (${insert} RETURNING message_id) UPDATE ${state} SET status = 'CREATED', version = version + 1, updated_at = now() WHERE id = $9 AND EXISTS (SELECT 1 FROM recorded)`,
          [...row(w), w],
        );
      },
      failure,
    );
    return { transaction, commit };
  } finally {
    await Promise.all(clients.slice(1).map((client) => client.end().catch(() => undefined)));
    if (created) await clients[0].query(`DROP TABLE IF EXISTS ${commands}, ${state}`).finally(() => clients[0].end().catch(() => undefined));
    else await clients[0]?.end().catch(() => undefined);
  }
}

function amqpConnect(url: string, name: string): Promise<ChannelModel> {
  return connect(url, { noDelay: true, clientProperties: { connection_name: name } });
}

function publishConfirmed(channel: ConfirmChannel, queue: string, content: Buffer, properties: Options.Publish): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      channel.sendToQueue(queue, content, properties, (error: unknown) =>
        error ? reject(error instanceof Error ? error : new Error(`broker nacked a message to ${queue}`)) : resolve(),
      );
    } catch (error) {
      reject(error instanceof Error ? error : new Error(String(error)));
    }
  });
}

async function measureAmqp(options: FloorOptions): Promise<Ceiling> {
  const names = { requests: `${options.queuePrefix}.floor-requests`, replies: `${options.queuePrefix}.floor-replies`, dlx: `${options.queuePrefix}.floor-dlx` };
  const connections: ChannelModel[] = [];
  const waiting = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  let fail!: (error: Error) => void;
  const failure = new Promise<never>((_, reject) => (fail = reject));
  failure.catch(() => undefined);
  let closing = false;
  const open = async (name: string): Promise<ChannelModel> => {
    const connection = await amqpConnect(options.amqpUrl, `${options.queuePrefix}-floor-${name}`);
    connections.push(connection);
    connection.on('error', () => undefined);
    connection.on('close', () => closing || fail(new Error(`floor: AMQP ${name} connection closed`)));
    return connection;
  };
  const watch = <C extends Channel>(channel: C, name: string): C => {
    channel.on('error', (error: Error) => fail(new Error(`floor: AMQP ${name} channel: ${error.message}`)));
    channel.on('close', () => closing || fail(new Error(`floor: AMQP ${name} channel closed`)));
    return channel;
  };
  try {
    const admin = watch(await (await open('admin')).createChannel(), 'admin');
    const args = queueArguments({ replyQueue: names.replies, deadLetterExchange: names.dlx, deadLetterQueue: '' }, options.queueType);
    await admin.assertExchange(names.dlx, 'fanout', { durable: true });
    for (const queue of [names.requests, names.replies]) await admin.assertQueue(queue, { durable: true, arguments: args });

    const responder = await open('responder');
    const responderIn = watch(await responder.createChannel(), 'responder consumer');
    const responderOut = watch(await responder.createConfirmChannel(), 'responder publisher');
    await responderIn.prefetch(options.concurrency);
    await responderIn.consume(
      names.requests,
      (message: ConsumeMessage | null) => {
        if (!message) return fail(new Error('floor: request consumer cancelled by the broker'));
        const { correlationId, messageId } = message.properties as { correlationId: string; messageId: string };
        const reply = Buffer.from(
          JSON.stringify({ response: { kind: 'success', result: { orderId: messageId.slice(0, 36), status: 'CREATED' } }, isDisposed: true, id: messageId }),
        );
        publishConfirmed(responderOut, names.replies, reply, { correlationId, persistent: true, contentType: 'application/json' })
          .then(() => responderIn.ack(message))
          .catch((error: Error) => closing || fail(error));
      },
      { noAck: false },
    );

    const requester = await open('requester');
    const requesterIn = watch(await requester.createChannel(), 'requester consumer');
    const requesterOut = watch(await requester.createConfirmChannel(), 'requester publisher');
    await requesterIn.prefetch(options.concurrency);
    await requesterIn.consume(
      names.replies,
      (message: ConsumeMessage | null) => {
        if (!message) return fail(new Error('floor: reply consumer cancelled by the broker'));
        if (!closing) requesterIn.ack(message);
        const waiter = waiting.get(String(message.properties.correlationId));
        waiting.delete(String(message.properties.correlationId));
        waiter?.resolve();
      },
      { noAck: false },
    );

    let sequence = 0;
    return await closedLoop(
      options.concurrency,
      options.durationMs,
      async () => {
        const sagaId = randomUUID();
        const messageId = `${sagaId}/charge-payment/action`;
        const correlationId = `${messageId}/${++sequence}`;
        const body = Buffer.from(
          JSON.stringify({
            pattern: 'payment.charge',
            data: { orderId: randomUUID(), customerId: 'customer-42', amount: 42.5, currency: 'EUR', items: [{ sku: 'SKU-1', quantity: 2 }] },
            id: messageId,
          }),
        );
        const replied = new Promise<void>((resolve, reject) => waiting.set(correlationId, { resolve, reject }));
        const headers = {
          'x-saga-id': sagaId,
          'x-saga-name': 'place-order',
          'x-saga-step': 'charge-payment',
          'x-saga-direction': 'action',
          'x-saga-attempt': 1,
          'x-saga-expires-at': Date.now() + 60_000,
        };
        await Promise.all([
          publishConfirmed(requesterOut, names.requests, body, {
            messageId,
            correlationId,
            replyTo: names.replies,
            persistent: true,
            contentType: 'application/json',
            timestamp: Math.floor(Date.now() / 1000),
            headers,
          }),
          replied,
        ]);
      },
      failure,
    );
  } finally {
    closing = true;
    for (const waiter of waiting.values()) waiter.reject(new Error('floor: measurement ended'));
    await Promise.all(connections.map((connection) => connection.close().catch(() => undefined)));
    const cleanup = await amqpConnect(options.amqpUrl, `${options.queuePrefix}-floor-cleanup`);
    try {
      const channel = await cleanup.createChannel();
      for (const queue of [names.requests, names.replies]) await channel.deleteQueue(queue);
      await channel.deleteExchange(names.dlx);
    } finally {
      await cleanup.close().catch(() => undefined);
    }
  }
}

export async function measureFloor(options: FloorOptions, perSaga: { postgresTransactions: number; amqpRoundTrips: number }): Promise<FloorResult> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new Error(`floor: concurrency must be a positive integer, got ${options.concurrency}`);
  if (!(options.durationMs > 0)) throw new Error(`floor: durationMs must be positive, got ${options.durationMs}`);
  const costs = [perSaga.postgresTransactions, perSaga.amqpRoundTrips];
  if (costs.some((cost) => !(cost >= 0) || !Number.isFinite(cost)) || costs.every((cost) => cost === 0)) {
    throw new Error(`floor: perSaga costs must be finite, non-negative and not both 0, got ${JSON.stringify(perSaga)}`);
  }
  const postgres = await measurePostgres(options, new Promise<never>(() => undefined));
  const amqpRoundTrip = await measureAmqp(options);
  const bound = (opsPerSecond: number, cost: number) => (cost > 0 ? opsPerSecond / cost : Number.POSITIVE_INFINITY);
  const ceilingSagasPerSecond = Math.min(bound(postgres.transaction.opsPerSecond, perSaga.postgresTransactions), bound(amqpRoundTrip.opsPerSecond, perSaga.amqpRoundTrips));
  return { postgresTransaction: postgres.transaction, postgresCommit: postgres.commit, amqpRoundTrip, perSaga: { ...perSaga }, ceilingSagasPerSecond };
}
