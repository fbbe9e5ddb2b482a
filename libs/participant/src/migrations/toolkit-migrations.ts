/**
 * The toolkit's own migrations (its processed_commands table), in order. A participant's data
 * source lists these before its own: a migration that has run is never edited, so a later change
 * to the table is a new entry here, and listing this constant picks it up.
 */
import { ProcessedCommands1763700000000 } from './1763700000000-ProcessedCommands';
import { ProcessedCommandsLastSeen1765510000000 } from './1765510000000-ProcessedCommandsLastSeen';

export const PARTICIPANT_TOOLKIT_MIGRATIONS = [ProcessedCommands1763700000000, ProcessedCommandsLastSeen1765510000000] as const;
