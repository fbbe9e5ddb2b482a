/**
 * One extra RabbitMQ node on this machine, next to the system one, run from the Debian
 * `rabbitmq-server` package's scripts (/usr/lib/rabbitmq/bin, or RABBITMQ_BIN_DIR).
 *
 * Guarantees:
 * - Everything the node owns lives under its own directory: mnesia, logs, pid file, config, and
 *   the process's stdout; it listens on 127.0.0.1 only (AMQP and Erlang distribution ports of
 *   its own), loads no plugins (an empty enabled-plugins file: no management UI, less memory) and
 *   ignores the machine's /etc/rabbitmq/rabbitmq-env.conf (RABBITMQ_CONF_ENV_FILE is ours).
 * - The Erlang cookie is the machine's (/var/lib/rabbitmq/.erlang.cookie, else ~/.erlang.cookie,
 *   else a fresh random one), copied into the cluster's own HOME, so the nodes and our
 *   rabbitmqctl calls agree on it without touching the machine's file.
 * - Every rabbitmqctl call is bounded (CTL_TIMEOUT_MS) and its failure names the node and the
 *   command; nothing here ever addresses a node that is not ours.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CTL_TIMEOUT_MS = 30_000;

export interface NodeSpec {
  /** e.g. saga-c1@localhost */
  name: string;
  amqpPort: number;
  distPort: number;
  /** This node's directory (under the cluster's). */
  dir: string;
}

export class ClusterCommandError extends Error {
  readonly code = 'CLUSTER_COMMAND_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'ClusterCommandError';
  }
}

function binDir(): string {
  const dir = process.env.RABBITMQ_BIN_DIR ?? '/usr/lib/rabbitmq/bin';
  if (!existsSync(join(dir, 'rabbitmq-server'))) {
    throw new ClusterCommandError(`no rabbitmq-server in ${dir} (install the rabbitmq-server package or set RABBITMQ_BIN_DIR)`);
  }
  return dir;
}

function machineCookie(): string {
  for (const file of ['/var/lib/rabbitmq/.erlang.cookie', join(homedir(), '.erlang.cookie')]) {
    try {
      const cookie = readFileSync(file, 'utf8').trim();
      if (cookie) return cookie;
    } catch {
      // not readable by this user: try the next one
    }
  }
  return randomBytes(20).toString('hex').toUpperCase();
}

/** The cluster-wide files every node and every rabbitmqctl call share (created once). */
export function prepareClusterHome(clusterDir: string): void {
  const home = join(clusterDir, 'home');
  mkdirSync(home, { recursive: true });
  const cookieFile = join(home, '.erlang.cookie');
  if (!existsSync(cookieFile)) {
    writeFileSync(cookieFile, machineCookie(), { mode: 0o400 });
    chmodSync(cookieFile, 0o400);
  }
  writeFileSync(join(clusterDir, 'enabled_plugins'), '');
  writeFileSync(join(clusterDir, 'rabbitmq-env.conf'), '# empty on purpose: the cluster script sets every variable\n');
}

function clusterEnv(clusterDir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    HOME: join(clusterDir, 'home'),
    RABBITMQ_CONF_ENV_FILE: join(clusterDir, 'rabbitmq-env.conf'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
}

function nodeEnv(clusterDir: string, node: NodeSpec): NodeJS.ProcessEnv {
  return {
    ...clusterEnv(clusterDir),
    RABBITMQ_NODENAME: node.name,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(node.amqpPort),
    RABBITMQ_DIST_PORT: String(node.distPort),
    RABBITMQ_MNESIA_BASE: join(node.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(node.dir, 'log'),
    RABBITMQ_PID_FILE: pidFile(node),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(clusterDir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(node.dir, 'rabbitmq.conf'),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

export function pidFile(node: NodeSpec): string {
  return join(node.dir, 'rabbitmq.pid');
}

/** Runs rabbitmqctl (or another CLI tool) against one of our nodes; resolves with stdout. */
export function ctl(clusterDir: string, node: NodeSpec, args: string[], timeoutMs = CTL_TIMEOUT_MS, tool = 'rabbitmqctl'): Promise<string> {
  const command = join(binDir(), tool);
  return new Promise((resolve, reject) => {
    execFile(command, ['-n', node.name, ...args], { env: clusterEnv(clusterDir), cwd: clusterDir, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const why = error.killed ? `timed out after ${timeoutMs} ms` : stderr.trim().split('\n').slice(-3).join(' ') || error.message;
      reject(new ClusterCommandError(`${tool} -n ${node.name} ${args.join(' ')}: ${why}`));
    });
  });
}

/** True when the node's Erlang VM answers (the RabbitMQ app may be stopped). */
export async function pings(clusterDir: string, node: NodeSpec): Promise<boolean> {
  return ctl(clusterDir, node, ['ping'], 10_000).then(
    () => true,
    () => false,
  );
}

/**
 * The node's rabbitmq.conf. `queue_leader_locator = balanced` (RabbitMQ 3.10+, every vhost) puts
 * the leader of each new quorum queue on the node with the fewest leaders, instead of the node
 * the declaring client is connected to (client-local, the default): checked on 3.10.8, six
 * queues declared through node 1 got leaders 2/2/2 with it and 6/0/0 without.
 */
export function nodeConfig(node: NodeSpec): string {
  return [`listeners.tcp.local = 127.0.0.1:${node.amqpPort}`, 'queue_leader_locator = balanced', ''].join('\n');
}

/** Starts the node's VM and broker in the background (detached: it outlives this process). */
export function spawnNode(clusterDir: string, node: NodeSpec): void {
  for (const sub of ['mnesia', 'log']) mkdirSync(join(node.dir, sub), { recursive: true });
  writeFileSync(join(node.dir, 'rabbitmq.conf'), nodeConfig(node));
  const out = openSync(join(node.dir, 'stdout.log'), 'a');
  try {
    const child = spawn(join(binDir(), 'rabbitmq-server'), [], { env: nodeEnv(clusterDir, node), cwd: node.dir, detached: true, stdio: ['ignore', out, out] });
    child.unref();
  } finally {
    closeSync(out);
  }
}

/** The last lines of the node's stdout, for an error message. */
export function outputTail(node: NodeSpec, lines = 8): string {
  try {
    return readFileSync(join(node.dir, 'stdout.log'), 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** The OS pid of the node's VM, from its pid file (undefined when none or not running). */
export function runningPid(node: NodeSpec): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(node), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
