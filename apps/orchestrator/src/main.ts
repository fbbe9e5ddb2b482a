/**
 * Entry point of the orchestrator process. Configuration comes from the environment
 * (README "Configuration"); SIGTERM/SIGINT stop it gracefully. Nest's per-route start-up lines
 * are left out of the log so that what matters (connections, the URL, warnings) stands out.
 * SAGA_FAULT_POINTS (tests only, libs/fault-points) is read here, before anything starts.
 */
import 'reflect-metadata';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { armFaultPoints, describeFaultPlan } from '#saga/fault-points';
import { startOrchestrator } from './bootstrap';
import { setLogFormat, type LogFormat } from './logging/log-line';

const QUIET_CONTEXTS = new Set(['RouterExplorer', 'RoutesResolver', 'InstanceLoader']);

class StartupQuietLogger extends ConsoleLogger {
  override log(message: unknown, context?: string): void {
    if (context !== undefined && QUIET_CONTEXTS.has(context)) return;
    super.log(message, context);
  }
}

/** LOG_FORMAT: `text` (default) or `json` (one object per line, fields included). */
function logFormatFromEnv(): LogFormat {
  const value = process.env.LOG_FORMAT || 'text';
  if (value !== 'text' && value !== 'json')
    throw new Error(`Invalid orchestrator configuration:\n  LOG_FORMAT: expected "text" or "json", got ${JSON.stringify(value.slice(0, 20))}`);
  return value;
}

async function main(): Promise<void> {
  const format = logFormatFromEnv();
  setLogFormat(format);
  const faults = armFaultPoints(process.env);
  if (faults.size > 0) new Logger('FaultPoints').warn(`armed (SAGA_FAULT_POINTS, tests only): ${describeFaultPlan(faults)}`);
  const app = await startOrchestrator({ shutdownHooks: true, logger: new StartupQuietLogger({ json: format === 'json' }) });
  const url = (await app.getUrl()).replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
  new Logger('Orchestrator').log(`API ready at ${url}  (OpenAPI: ${url}/docs)`);
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
