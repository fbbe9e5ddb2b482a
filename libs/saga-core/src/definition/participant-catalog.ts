/**
 * The participant catalog: which commands exist and which queue each one is sent to.
 *
 * Guarantees: commandRoutes maps each command to the queue of the participant listing it; the
 * orchestrator's registry refuses catalogs where two participants list one command, so
 * "unknown command" and "ambiguous command" are load-time errors, never run-time ones.
 */
export interface ParticipantEntry {
  /** The durable queue the participant consumes; the orchestrator declares it (docs/protocol.md). */
  queue: string;
  /** Command patterns the participant serves. */
  commands: string[];
}

export interface ParticipantCatalog {
  participants: Record<string, ParticipantEntry>;
}

export interface CommandRoute {
  participant: string;
  queue: string;
}

export function commandRoutes(catalog: ParticipantCatalog): Map<string, CommandRoute> {
  const routes = new Map<string, CommandRoute>();
  for (const [participant, entry] of Object.entries(catalog.participants)) {
    for (const command of entry.commands) routes.set(command, { participant, queue: entry.queue });
  }
  return routes;
}
