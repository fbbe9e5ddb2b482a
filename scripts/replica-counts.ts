/**
 * How many replicas `npm start` runs: `--orchestrators N` and `--participants N` on its command
 * line (`npm start -- --orchestrators 3 --participants 2`, also `--orchestrators=3`), else
 * ORCHESTRATOR_REPLICAS / PARTICIPANT_REPLICAS, else 1 each.
 *
 * Guarantees: a count is an integer from 1 to MAX_REPLICAS; anything else (an unknown option, a
 * missing or bad number) is a ReplicaCountError naming it, never a silent default.
 */
export const MAX_REPLICAS = 16;

export interface ReplicaCounts {
  orchestrators: number;
  /** Replicas of EACH example participant (competing consumers of its queue). */
  participants: number;
}

export class ReplicaCountError extends Error {
  readonly code = 'REPLICA_COUNT_INVALID';
  override readonly name = 'ReplicaCountError';
}

const OPTIONS = { '--orchestrators': 'orchestrators', '--participants': 'participants' } as const;

function count(value: string | undefined, where: string): number {
  const n = Number(value);
  if (value === undefined || !/^[0-9]+$/.test(value) || n < 1 || n > MAX_REPLICAS) {
    throw new ReplicaCountError(`${where}: expected a whole number from 1 to ${MAX_REPLICAS}, got ${JSON.stringify(value ?? null)}`);
  }
  return n;
}

export function replicaCounts(argv: readonly string[], env: Record<string, string | undefined>): ReplicaCounts {
  const counts: ReplicaCounts = {
    orchestrators: env.ORCHESTRATOR_REPLICAS ? count(env.ORCHESTRATOR_REPLICAS, 'ORCHESTRATOR_REPLICAS') : 1,
    participants: env.PARTICIPANT_REPLICAS ? count(env.PARTICIPANT_REPLICAS, 'PARTICIPANT_REPLICAS') : 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const [option, inline] = argv[i].split(/=(.*)/s, 2);
    const key = OPTIONS[option as keyof typeof OPTIONS];
    if (!key) throw new ReplicaCountError(`unknown option ${JSON.stringify(argv[i])} (known: ${Object.keys(OPTIONS).join(', ')})`);
    counts[key] = count(inline ?? argv[++i], option);
  }
  return counts;
}
