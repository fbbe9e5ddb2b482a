/**
 * Entry point of the orchestrator process. Configuration comes from the environment
 * (README "Configuration"); SIGTERM/SIGINT stop it gracefully. Nest's per-route start-up lines
 * are left out of the log so that what matters (connections, the URL, warnings) stands out.
 */
import 'reflect-metadata';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { startOrchestrator } from './bootstrap';

const QUIET_CONTEXTS = new Set(['RouterExplorer', 'RoutesResolver', 'InstanceLoader']);

class StartupQuietLogger extends ConsoleLogger {
  override log(message: unknown, context?: string): void {
    if (context !== undefined && QUIET_CONTEXTS.has(context)) return;
    super.log(message, context);
  }
}

async function main(): Promise<void> {
  const app = await startOrchestrator({ shutdownHooks: true, logger: new StartupQuietLogger() });
  const url = (await app.getUrl()).replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
  new Logger('Orchestrator').log(`API ready at ${url}  (OpenAPI: ${url}/docs)`);
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
