/**
 * The chaos run's faults, one at a time on a schedule, each kind counted with the time it was
 * injected (for the recovery figures). Kinds:
 * - kill-replica: SIGKILL of a random orchestrator or participant replica (the fleet restarts it);
 * - pause-replica: SIGSTOP of a random replica for PAUSE_MS, then SIGCONT;
 * - freeze-past-timeouts: the same for FREEZE_MS, longer than every step timeout of place-order
 *   (5 s, payment 8 s): its unacked commands time out and are retried elsewhere, and a frozen
 *   orchestrator wakes up holding decisions that are stale by then;
 * - participant-outage (not in turn: every OUTAGE_EVERY_MS, the load's source of participant
 *   timeouts): SIGSTOP of EVERY replica of the order or inventory service for OUTAGE_MS, longer
 *   than those steps' whole retry budget (3 attempts of 5 s, 15.6 s in all): the sagas caught in
 *   it roll back by timeout while their commands are still queued, and the service wakes up to
 *   the late actions and their undos;
 * - rabbit-node-restart: `rabbitmqctl stop_app`, NODE_DOWN_MS, `start_app` on a node; the first
 *   time on the node of the reply queue's leader;
 * - rabbit-close-connections: `rabbitmqctl close_all_connections` on a random node;
 * - pg-terminate: pg_terminate_backend of every backend of THIS run's databases (filtered by
 *   datname; never another database);
 * - malformed-replies: garbage bodies published to the reply queue (each must end as a dead
 *   letter, counted in expectedDeadLetters);
 * - poison-commands: garbage bodies (no replyTo) published to a participant's command queue
 *   (each must end as a dead letter too).
 * Every garbage message has a correlation id `chaos-…`, so the verdict can tell them apart.
 * Fault points (armed replicas dying) are counted by the fleet.
 *
 * Guarantees: the short kinds one at a time (the next waits for the previous to finish); the
 * LASTING kinds (pauses, a node down) go on in the background while the schedule goes on, at
 * most one of each kind at a time and never a connection close on a node that is down, so a
 * 10-minute run sees 30 of each kind; a fault that could not be injected is counted as failed,
 * not as injected; stop() resolves once every fault in progress finished (a stopped node is
 * started again, a paused replica continued).
 */
import { connect } from 'amqplib';
import { ctl, type Cluster } from '../cluster/local-cluster';
import type { ChaosFleet } from './chaos-fleet';
import { pick } from './chaos-options';
import { queryRows } from './chaos-sql';

export const FAULT_KINDS = [
  'kill-replica',
  'pause-replica',
  'freeze-past-timeouts',
  'rabbit-node-restart',
  'rabbit-close-connections',
  'pg-terminate',
  'malformed-replies',
  'poison-commands',
  'copied-replies',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number] | 'participant-outage';
/** Kinds that last seconds: they run in the background while the schedule goes on. */
const LASTING: ReadonlySet<FaultKind> = new Set(['pause-replica', 'freeze-past-timeouts', 'rabbit-node-restart']);

const PAUSE_MS = 3_000;
const FREEZE_MS = 10_000;
const OUTAGE_MS = 20_000;
const OUTAGE_EVERY_MS = 60_000;
const OUTAGE_APPS = ['order-service', 'inventory-service'];
const NODE_DOWN_MS = 4_000;
const GARBAGE_PER_FAULT = 3;
const COPIED_SAGAS = 3;

export interface FaultRecord {
  kind: FaultKind | 'fault-point';
  at: number;
  target: string;
}

export class ChaosFaults {
  readonly injected: FaultRecord[] = [];
  readonly failed: Record<string, number> = {};
  expectedDeadLetters = 0;
  private timer?: NodeJS.Timeout;
  private outageTimer?: NodeJS.Timeout;
  private current?: Promise<void>;
  private readonly lasting = new Map<FaultKind, Promise<void>>();
  private turn = 0;
  private firstNodeRestart = true;
  /** The node a rabbit-node-restart has stopped, while it is down. */
  private nodeDown: string | null = null;

  /** The participants' command queues (poison goes to one of them). */
  commandQueues: string[] = [];
  /** The orchestrator's database (copied replies are rebuilt from its saga_steps). */
  orchestratorDb = '';

  constructor(
    private readonly fleet: ChaosFleet,
    private readonly cluster: Cluster,
    private readonly postgresUrl: string,
    private readonly databasePattern: string,
    private readonly replyQueue: string,
    private readonly random: () => number,
    private readonly log: (line: string) => void,
  ) {}

  begin(everyMs: number): void {
    // Every kind in turn (order shuffled by the seed), so a short run still sees each kind.
    const order = [...FAULT_KINDS].sort(() => this.random() - 0.5);
    this.timer = setInterval(() => {
      if (this.current) return;
      const kind = order[this.turn % order.length];
      if (this.lasting.has(kind)) return; // the last one of this kind still goes on: its turn waits
      this.turn++;
      const run = this.attempt(kind);
      if (LASTING.has(kind))
        this.lasting.set(
          kind,
          run.finally(() => this.lasting.delete(kind)),
        );
      else this.current = run.finally(() => (this.current = undefined));
    }, everyMs);
    this.outageTimer = setInterval(() => {
      if (!this.lasting.has('participant-outage'))
        this.lasting.set(
          'participant-outage',
          this.attempt('participant-outage').finally(() => this.lasting.delete('participant-outage')),
        );
    }, OUTAGE_EVERY_MS);
  }

  private attempt(kind: FaultKind): Promise<void> {
    return this.inject(kind).catch((error: Error) => {
      this.failed[kind] = (this.failed[kind] ?? 0) + 1;
      this.log(`fault ${kind} failed: ${error.message.split('\n')[0]}`);
    });
  }

  /** No new one from now on (what is in progress is left to finish or be cut by the clean-up). */
  halt(): void {
    clearInterval(this.timer);
    clearInterval(this.outageTimer);
  }

  async stop(): Promise<void> {
    this.halt();
    await this.current;
    await Promise.all([...this.lasting.values()]);
  }

  private record(kind: FaultKind, target: string): void {
    this.injected.push({ kind, at: Date.now(), target });
    this.log(`fault ${kind} → ${target}`);
  }

  private async inject(kind: FaultKind): Promise<void> {
    switch (kind) {
      case 'kill-replica': {
        const victim = pick(this.random, this.fleet.running());
        this.record(kind, victim.name);
        this.fleet.kill(victim);
        return;
      }
      case 'pause-replica': {
        const victim = pick(this.random, this.fleet.running());
        this.record(kind, `${victim.name} for ${PAUSE_MS / 1000} s`);
        await this.fleet.pause(victim, PAUSE_MS);
        return;
      }
      case 'freeze-past-timeouts': {
        const victim = pick(this.random, this.fleet.running());
        this.record(kind, `${victim.name} for ${FREEZE_MS / 1000} s`);
        await this.fleet.pause(victim, FREEZE_MS);
        return;
      }
      case 'participant-outage': {
        const app = pick(this.random, OUTAGE_APPS);
        const victims = this.fleet.running().filter((replica) => replica.app === app);
        this.record(kind, `${victims.map((victim) => victim.name).join(' and ')} for ${OUTAGE_MS / 1000} s`);
        await Promise.all(victims.map((victim) => this.fleet.pause(victim, OUTAGE_MS)));
        return;
      }
      case 'rabbit-node-restart': {
        const node = this.firstNodeRestart ? await this.replyLeaderNode() : pick(this.random, this.cluster.nodes);
        this.firstNodeRestart = false;
        this.nodeDown = node.name;
        try {
          await ctl(this.cluster.dir, node, ['stop_app'], 30_000);
          this.record(kind, node.name);
          await new Promise((resolve) => setTimeout(resolve, NODE_DOWN_MS));
          await ctl(this.cluster.dir, node, ['start_app'], 60_000);
        } finally {
          this.nodeDown = null;
        }
        return;
      }
      case 'rabbit-close-connections': {
        const node = pick(
          this.random,
          this.cluster.nodes.filter((candidate) => candidate.name !== this.nodeDown),
        );
        await ctl(this.cluster.dir, node, ['close_all_connections', 'chaos run'], 30_000);
        this.record(kind, node.name);
        return;
      }
      case 'pg-terminate': {
        const terminated = await queryRows(this.postgresUrl, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname LIKE $1 AND pid <> pg_backend_pid()', [
          this.databasePattern,
        ]);
        this.record(kind, `${terminated.length} backends`);
        return;
      }
      case 'malformed-replies':
        await this.publishGarbage(this.replyQueue, 'garbage');
        this.record(kind, `${GARBAGE_PER_FAULT} garbage replies`);
        return;
      case 'copied-replies': {
        const copies = await this.realReplies();
        if (copies.length === 0) throw new Error('no step has succeeded yet');
        const connection = await connect(pick(this.random, this.upUrls()));
        connection.on('error', () => undefined); // a node going away closes it: the publish fails, the script goes on
        try {
          const channel = await connection.createConfirmChannel();
          for (const copy of copies) {
            channel.sendToQueue(this.replyQueue, Buffer.from(JSON.stringify({ response: copy.result, isDisposed: true })), {
              persistent: true,
              correlationId: `${copy.saga_id}/${copy.name}/action/${copy.attempt}`,
              contentType: 'application/json',
            });
          }
          await channel.waitForConfirms();
        } finally {
          await connection.close();
        }
        this.record(kind, `${copies.length} replies of ${new Set(copies.map((c) => c.saga_id)).size} sagas`);
        return;
      }
      case 'poison-commands': {
        const queue = pick(this.random, this.commandQueues);
        await this.publishGarbage(queue, 'poison');
        this.record(kind, `${GARBAGE_PER_FAULT} poison commands to ${queue}`);
        return;
      }
    }
  }

  private async publishGarbage(queue: string, tag: string): Promise<void> {
    const connection = await connect(pick(this.random, this.upUrls()));
    connection.on('error', () => undefined); // a node going away closes it: the publish fails, the script goes on
    try {
      const channel = await connection.createConfirmChannel();
      for (let k = 0; k < GARBAGE_PER_FAULT; k++) {
        channel.sendToQueue(queue, Buffer.from(k % 2 === 0 ? '{not json' : JSON.stringify({ chaos: tag, k })), {
          persistent: true,
          correlationId: `chaos-${tag}-${Date.now()}-${k}`,
          contentType: 'application/json',
        });
      }
      await channel.waitForConfirms();
      this.expectedDeadLetters += GARBAGE_PER_FAULT;
    } finally {
      await connection.close();
    }
  }

  private realReplies(): Promise<{ saga_id: string; name: string; attempt: number; result: unknown }[]> {
    return queryRows(
      this.orchestratorDb,
      `SELECT s.saga_id, s.name, s.attempt, s.result FROM saga_steps s
        WHERE s.saga_id IN (SELECT saga_id FROM saga_steps WHERE status IN ('SUCCEEDED', 'COMPENSATED') AND attempt >= 1 ORDER BY random() LIMIT $1)
          AND s.status IN ('SUCCEEDED', 'COMPENSATED') AND s.attempt >= 1
        ORDER BY s.saga_id, s.position DESC`,
      [COPIED_SAGAS],
    );
  }

  /** The AMQP URLs of the nodes not stopped by a rabbit-node-restart in progress. */
  private upUrls(): string[] {
    return this.cluster.urls.filter((_, k) => this.cluster.nodes[k].name !== this.nodeDown);
  }

  private async replyLeaderNode() {
    const [first] = this.cluster.nodes;
    const rows = JSON.parse(await ctl(this.cluster.dir, first, ['list_queues', '-q', '-p', '/', 'name', 'leader', '--formatter', 'json'])) as { name: string; leader: string }[];
    const leader = rows.find((row) => row.name === this.replyQueue)?.leader;
    return this.cluster.nodes.find((node) => node.name === leader) ?? first;
  }
}
