/**
 * A RabbitMQ cluster of N nodes (default 3) on this one machine, for tests and for trying the
 * production shape locally (docs/operations.md "A local RabbitMQ cluster").
 *
 * Guarantees:
 * - start is idempotent: nodes already running are left alone, nodes already in the cluster are
 *   not re-joined; a node joins node 1 only after a reset of its own (empty) data.
 * - start returns only once node 1's cluster_status lists every node as running; otherwise it
 *   throws a ClusterCommandError naming the node and the step, within `timeoutMs` (every
 *   rabbitmqctl call's timeout is cut to what is left; at least 1 s each).
 * - Every node runs with `queue_leader_locator = balanced` (rabbitmq-node.ts nodeConfig): new
 *   quorum queues, in any vhost, get their leaders spread over the nodes.
 * - stop stops every node it finds running (rabbitmqctl stop, waiting on the pid file; SIGKILL of
 *   that pid as the last resort) and deletes the directory only when asked AND the directory
 *   holds this script's state file (it never deletes a directory it did not create).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ClusterCommandError, ctl, outputTail, pidFile, pings, prepareClusterHome, runningPid, spawnNode, type NodeSpec } from './rabbitmq-node';

export { ClusterCommandError, ctl, type NodeSpec } from './rabbitmq-node';

export interface ClusterOptions {
  dir: string;
  nodes?: number;
  /** AMQP port of node 1; node i listens on basePort + i - 1 (default 5681). */
  basePort?: number;
  /** Node names are `<namePrefix><i>@localhost` (default `saga-c`). */
  namePrefix?: string;
}

export interface Cluster {
  dir: string;
  nodes: NodeSpec[];
  /** amqp:// URLs, one per node, in node order. */
  urls: string[];
}

const STATE_FILE = '.saga-rabbitmq-cluster.json';

function describe(options: ClusterOptions): Cluster {
  const dir = resolve(options.dir);
  const count = options.nodes ?? 3;
  const basePort = options.basePort ?? 5681;
  const prefix = options.namePrefix ?? 'saga-c';
  if (!Number.isInteger(count) || count < 1 || count > 7) throw new ClusterCommandError(`--nodes must be 1 to 7, got ${count}`);
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort + count > 45_535) throw new ClusterCommandError(`--base-port must be 1024 to ${45_535 - count}`);
  if (!/^[a-z][a-z0-9-]*$/.test(prefix)) throw new ClusterCommandError('--name-prefix: lowercase letters, digits and "-" only');
  const nodes = Array.from({ length: count }, (_, i) => ({
    name: `${prefix}${i + 1}@localhost`,
    amqpPort: basePort + i,
    distPort: basePort + i + 20_000,
    dir: join(dir, `node${i + 1}`),
  }));
  return { dir, nodes, urls: nodes.map((node) => `amqp://guest:guest@127.0.0.1:${node.amqpPort}`) };
}

/** The cluster recorded in `dir` by an earlier start (stop and status need no other option). */
export function loadCluster(dir: string): Cluster | undefined {
  const file = join(resolve(dir), STATE_FILE);
  if (!existsSync(file)) return undefined;
  return describe({ ...(JSON.parse(readFileSync(file, 'utf8')) as Omit<ClusterOptions, 'dir'>), dir });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A command's timeout: its usual one, cut to what is left before the deadline (at least 1 s). */
const within = (deadline: number, usualMs: number) => Math.max(1_000, Math.min(usualMs, deadline - Date.now()));

async function waitFor<T>(what: string, deadline: number, probe: () => Promise<T | undefined>): Promise<T> {
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(500);
  }
  throw new ClusterCommandError(`timed out waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
}

interface ClusterStatus {
  running_nodes?: string[];
  disk_nodes?: string[];
}

export async function runningNodes(cluster: Cluster, via: NodeSpec, timeoutMs = 15_000): Promise<string[]> {
  const status = JSON.parse(await ctl(cluster.dir, via, ['cluster_status', '--formatter', 'json'], timeoutMs)) as ClusterStatus;
  return status.running_nodes ?? [];
}

/** Starts the node (if its VM is not up) and waits until its broker app is running. */
export async function startNode(cluster: Cluster, node: NodeSpec, deadline: number): Promise<void> {
  if (!(await pings(cluster.dir, node))) spawnNode(cluster.dir, node);
  await waitFor(`${node.name} to boot`, deadline, async () => {
    await ctl(cluster.dir, node, ['await_startup', '--timeout', '5'], within(deadline, 10_000));
    return true;
  }).catch((error: Error) => {
    throw new ClusterCommandError(`${error.message}\n--- ${node.name} output ---\n${outputTail(node)}`);
  });
}

/** Stops the node's VM (all of it; start with startNode). Resolves once its process is gone. */
export async function stopNode(cluster: Cluster, node: NodeSpec): Promise<void> {
  const pid = runningPid(node);
  if (!(await pings(cluster.dir, node)) && pid === undefined) return;
  await ctl(cluster.dir, node, ['stop', pidFile(node)], 60_000).catch(() => undefined);
  const left = runningPid(node);
  if (left !== undefined) {
    process.kill(left, 'SIGKILL');
    await sleep(500);
  }
}

/** Crashes the node: SIGKILL of its VM, nothing graceful (a power cut for that node). */
export async function killNode(node: NodeSpec): Promise<void> {
  const pid = runningPid(node);
  if (pid === undefined) throw new ClusterCommandError(`${node.name} is not running (no live pid in ${pidFile(node)})`);
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (runningPid(node) === pid) {
    if (Date.now() > deadline) throw new ClusterCommandError(`${node.name} (pid ${pid}) still running 10 s after SIGKILL`);
    await sleep(100);
  }
}

export async function startCluster(options: ClusterOptions, timeoutMs = 120_000): Promise<Cluster> {
  const deadline = Date.now() + timeoutMs;
  const cluster = describe(options);
  const recorded = loadCluster(cluster.dir);
  if (recorded && recorded.nodes.map((n) => n.name + n.amqpPort).join() !== cluster.nodes.map((n) => n.name + n.amqpPort).join()) {
    throw new ClusterCommandError(`${cluster.dir} holds another cluster (${recorded.nodes.map((n) => n.name).join(', ')}): stop it with --delete first`);
  }
  mkdirSync(cluster.dir, { recursive: true });
  const state = { nodes: cluster.nodes.length, basePort: cluster.nodes[0].amqpPort, namePrefix: options.namePrefix ?? 'saga-c' };
  writeFileSync(join(cluster.dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  prepareClusterHome(cluster.dir);
  await Promise.all(cluster.nodes.map((node) => startNode(cluster, node, deadline)));
  const [first, ...others] = cluster.nodes;
  for (const node of others) {
    if ((await runningNodes(cluster, node, within(deadline, 15_000))).includes(first.name)) continue;
    await ctl(cluster.dir, node, ['stop_app'], within(deadline, 30_000));
    await ctl(cluster.dir, node, ['reset'], within(deadline, 30_000));
    await ctl(cluster.dir, node, ['join_cluster', first.name], within(deadline, 60_000));
    await ctl(cluster.dir, node, ['start_app'], within(deadline, 60_000));
  }
  await waitFor(`all ${cluster.nodes.length} nodes running in ${first.name}'s cluster_status`, deadline, async () => {
    const running = await runningNodes(cluster, first, within(deadline, 15_000));
    return cluster.nodes.every((node) => running.includes(node.name)) ? true : undefined;
  });
  return cluster;
}

export interface NodeState {
  node: NodeSpec;
  /** The node's VM answers. */
  up: boolean;
  /** The nodes this node sees running in its cluster (empty when it does not answer). */
  running: string[];
}

export async function clusterStatus(cluster: Cluster): Promise<NodeState[]> {
  return Promise.all(
    cluster.nodes.map(async (node) => {
      const up = await pings(cluster.dir, node);
      const running = up ? await runningNodes(cluster, node).catch(() => []) : [];
      return { node, up, running };
    }),
  );
}

export async function stopCluster(dir: string, options: { delete?: boolean } = {}): Promise<Cluster | undefined> {
  const cluster = loadCluster(dir);
  if (!cluster) {
    if (options.delete && existsSync(dir)) throw new ClusterCommandError(`${resolve(dir)} has no ${STATE_FILE}: not deleting a directory this script did not create`);
    return undefined;
  }
  // Node 1 last: it stopped last, so it may boot first next time without waiting for its peers.
  for (const node of [...cluster.nodes].reverse()) await stopNode(cluster, node);
  if (options.delete) rmSync(cluster.dir, { recursive: true, force: true });
  return cluster;
}
