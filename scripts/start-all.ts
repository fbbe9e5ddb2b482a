/**
 * `npm start`: runs the orchestrator and the three example participants as four processes,
 * with their output prefixed, against the local PostgreSQL and RabbitMQ (zero configuration:
 * every setting has a default; see README "Configuration").
 *
 * Without configured tokens the orchestrator gets one generated token per role (local-tokens.ts),
 * printed at the end and kept in `.saga-tokens.env`.
 *
 * Guarantees: the participants start first (their queues exist before the orchestrator sends);
 * Ctrl-C / SIGTERM stops all four gracefully; if one process dies, the others are stopped and
 * the exit code says so, rather than leaving half a system running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { localTokens } from './local-tokens';
import { SERVICE_NODE_FLAGS, serviceEnv } from './service-node-flags';

const APPS = ['order-service', 'inventory-service', 'payment-service', 'orchestrator'] as const;
const COLORS = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m'];
const RESET = '\x1b[0m';
const children = new Map<string, ChildProcess>();
let stopping = false;

function prefixLines(name: string, color: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream): void {
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) out.write(`${color}${name.padEnd(17)}${RESET}| ${line}\n`);
  });
}

const tokens = localTokens(process.env);

function start(name: (typeof APPS)[number], index: number): Promise<void> {
  const main = join(__dirname, '..', 'apps', name, 'src', 'main.js');
  const env = serviceEnv(name === 'orchestrator' ? tokens.env : {});
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, main], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(name, child);
  prefixLines(name, COLORS[index], child.stdout!, process.stdout);
  prefixLines(name, COLORS[index], child.stderr!, process.stderr);
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

async function main(): Promise<void> {
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  await Promise.all(APPS.slice(0, 3).map((name, index) => start(name, index)));
  if (stopping) return;
  await start('orchestrator', 3);
  if (stopping) return;
  const port = process.env.PORT ?? '3000';
  const shown = Object.entries(tokens.shown);
  const tokenLines =
    shown.length === 0
      ? '  Tokens:   as configured (AUTH_TOKENS / AUTH_TOKENS_FILE / AUTH_DISABLED)'
      : `  Tokens:   one per role, also in .saga-tokens.env (in another terminal: source .saga-tokens.env)\n${shown.map(([name, token]) => `              ${name}=${token}`).join('\n')}`;
  console.log(`
Saga orchestrator and the order, inventory and payment services are running.
  API:      http://localhost:${port}        OpenAPI: http://localhost:${port}/docs
  Admin UI: http://localhost:${port}/ui     (paste a token below, e.g. SAGA_OPERATOR_TOKEN)
${tokenLines}
  Try:      ${shown.length === 0 ? 'TOKEN=<a client token>' : 'source .saga-tokens.env; TOKEN=$SAGA_CLIENT_TOKEN'}
            curl -s -X POST localhost:${port}/sagas/place-order -H "Authorization: Bearer $TOKEN" \\
              -H 'content-type: application/json' -d '{"customerId":"c-1","items":[{"sku":"sku-1","quantity":2}],"amount":120}'
  Stop:     Ctrl-C
`);
}

void main();
