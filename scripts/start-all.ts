/**
 * `npm start`: runs the orchestrator and the three example participants against the local
 * PostgreSQL and RabbitMQ (zero configuration: every setting has a default; see README
 * "Configuration"), each process's output prefixed with its name.
 *
 * Replicas (docs/operations.md "Replicas"): `npm start -- --orchestrators 3 --participants 2`
 * (or ORCHESTRATOR_REPLICAS / PARTICIPANT_REPLICAS) runs 3 orchestrators on one database and
 * broker, on ports PORT, PORT+1, … (PORT defaults to 3000), and 2 replicas of each participant,
 * competing consumers of its queue on its one database.
 *
 * Without configured tokens the orchestrators get one generated token per role (local-tokens.ts),
 * the same for every replica, printed at the end and kept in `.saga-tokens.env`.
 *
 * Guarantees: the participants start first (their queues exist before an orchestrator sends);
 * the first replica of each app starts alone, so one process applies its migrations before the
 * others connect; Ctrl-C / SIGTERM stops all gracefully; if one process dies, the others are
 * stopped and the exit code says so, rather than leaving half a system running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { localTokens } from './local-tokens';
import { replicaCounts, type ReplicaCounts } from './replica-counts';
import { SERVICE_NODE_FLAGS, serviceEnv } from './service-node-flags';

const PARTICIPANTS = ['order-service', 'inventory-service', 'payment-service'] as const;
type App = (typeof PARTICIPANTS)[number] | 'orchestrator';
const COLORS: Record<App, string> = { 'order-service': '\x1b[36m', 'inventory-service': '\x1b[35m', 'payment-service': '\x1b[33m', orchestrator: '\x1b[32m' };
const RESET = '\x1b[0m';
const children = new Map<string, ChildProcess>();
let stopping = false;

function prefixLines(name: string, color: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) out.write(`${color}${name.padEnd(19)}${RESET}| ${line}\n`);
  });
}

const tokens = localTokens(process.env);
const basePort = Number(process.env.PORT || '3000');

/** `order-service`, or `order-service#2` when it has replicas. */
const replicaName = (app: App, replica: number, of: number) => (of === 1 ? app : `${app}#${replica + 1}`);

function start(app: App, replica: number, of: number): Promise<void> {
  const name = replicaName(app, replica, of);
  const main = join(__dirname, '..', 'apps', app, 'src', 'main.js');
  const env = serviceEnv(app === 'orchestrator' ? { ...tokens.env, PORT: String(basePort + replica) } : {});
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, main], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(name, child);
  prefixLines(name, COLORS[app], child.stdout!, process.stdout);
  prefixLines(name, COLORS[app], child.stderr!, process.stderr);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      console.error(`${name} exited (${signal ?? `code ${code}`}); stopping the others`);
      stop(1);
    }
  });
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      if (/ready/i.test(chunk.toString())) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', () => resolve());
  });
}

/** Replica 0 of each app first (it migrates its database), then the others together. */
async function startReplicas(apps: readonly App[], of: number): Promise<void> {
  await Promise.all(apps.map((app) => start(app, 0, of)));
  if (stopping) return;
  await Promise.all(apps.flatMap((app) => Array.from({ length: of - 1 }, (_, k) => start(app, k + 1, of))));
}

function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children.values()) child.kill('SIGTERM');
  const deadline = setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
  }, 10_000);
  const wait = setInterval(() => {
    if (children.size === 0) {
      clearInterval(wait);
      clearTimeout(deadline);
      process.exit(code);
    }
  }, 50);
}

function banner(counts: ReplicaCounts): string {
  const ports = Array.from({ length: counts.orchestrators }, (_, k) => basePort + k);
  const port = ports[0];
  const shown = Object.entries(tokens.shown);
  const tokenLines =
    shown.length === 0
      ? '  Tokens:   as configured (AUTH_TOKENS / AUTH_TOKENS_FILE / AUTH_DISABLED)'
      : `  Tokens:   one per role${counts.orchestrators > 1 ? ', valid on every replica' : ''}, also in .saga-tokens.env (in another terminal: source .saga-tokens.env)\n${shown.map(([name, token]) => `              ${name}=${token}`).join('\n')}`;
  const what =
    counts.orchestrators === 1 && counts.participants === 1
      ? 'Saga orchestrator and the order, inventory and payment services are running.'
      : `${counts.orchestrators} orchestrator replica(s) on one database and broker, and ${counts.participants} replica(s) each of the order, inventory and payment services, are running.`;
  const replicas =
    counts.orchestrators === 1
      ? ''
      : `  Replicas: ${ports.map((p) => `http://localhost:${p}`).join('  ')}\n            any of them serves any saga (put a load balancer in front for one address)\n`;
  return `
${what}
  API:      http://localhost:${port}        OpenAPI: http://localhost:${port}/docs
${replicas}  Admin UI: http://localhost:${port}/ui     (paste a token below, e.g. SAGA_OPERATOR_TOKEN)
${tokenLines}
  Try:      ${shown.length === 0 ? 'TOKEN=<a client token>' : 'source .saga-tokens.env; TOKEN=$SAGA_CLIENT_TOKEN'}
            curl -s -X POST localhost:${port}/sagas/place-order -H "Authorization: Bearer $TOKEN" \\
              -H 'content-type: application/json' -d '{"customerId":"c-1","items":[{"sku":"sku-1","quantity":2}],"amount":120}'
  Stop:     Ctrl-C
`;
}

async function main(): Promise<void> {
  let counts: ReplicaCounts;
  try {
    counts = replicaCounts(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`npm start: ${(error as Error).message}\n  usage: npm start -- [--orchestrators N] [--participants N]`);
    process.exit(2);
  }
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  await startReplicas(PARTICIPANTS, counts.participants);
  if (stopping) return;
  await startReplicas(['orchestrator'], counts.orchestrators);
  if (stopping) return;
  console.log(banner(counts));
}

void main();
