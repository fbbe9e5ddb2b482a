/**
 * Test-only fault points: `faultPoint(name)` placed in the runtime and the participant toolkit
 * at the instants where a crash is the hardest to survive. Unless `SAGA_FAULT_POINTS` names a
 * point, it does nothing (one check of a module variable). Armed, the process SIGKILLs itself
 * there, so a test or a chaos run can show that a crash at exactly that instant loses nothing and
 * doubles nothing (docs/semantics.md S4, S7; docs/operations.md "Fault points").
 *
 * `SAGA_FAULT_POINTS` is a comma-separated list of `<name>@<N>` (die on the N-th hit, N ≥ 1) or
 * `<name>:<p>` (die on each hit with probability p, 0 < p ≤ 1), names from FAULT_POINT_NAMES.
 *
 * Guarantees:
 * - The environment is read once, by armFaultPoints() at process start; later changes to it are
 *   not seen, and a later call returns the plan of the first.
 * - A bad value (unknown name, bad trigger, a point named twice) is refused at start with
 *   FaultPointConfigError listing every problem, never ignored.
 * - Never armed by accident in production: with NODE_ENV=production, a set SAGA_FAULT_POINTS is
 *   refused (the process does not start) unless SAGA_FAULT_POINTS_IN_PRODUCTION=true.
 * - When a point fires it writes one line to stderr (synchronously), then SIGKILLs the process:
 *   no shutdown hook, no ack, no flush runs after it, as in a real crash.
 */
import { writeSync } from 'node:fs';

export const FAULT_POINT_NAMES = [
  /** A batch of replies committed, before those messages are acked. */
  'orchestrator.after-commit-before-ack',
  /** Commands confirmed by the broker, before their outbox rows are deleted. */
  'orchestrator.after-publish-before-outbox-delete',
  /** A participant's transaction committed, before its reply is published. */
  'participant.after-commit-before-reply',
] as const;

export type FaultPointName = (typeof FAULT_POINT_NAMES)[number];

export type FaultTrigger = { kind: 'hit'; n: number } | { kind: 'probability'; p: number };

export type FaultPlan = ReadonlyMap<FaultPointName, FaultTrigger>;

export class FaultPointConfigError extends Error {
  readonly code = 'FAULT_POINTS_INVALID';
  override readonly name = 'FaultPointConfigError';
}

const KNOWN = new Set<string>(FAULT_POINT_NAMES);

function parseTrigger(entry: string): { name: string; trigger?: FaultTrigger; problem?: string } {
  const at = /^([a-z.-]+)@([0-9]+)$/.exec(entry);
  if (at) {
    const n = Number(at[2]);
    return Number.isSafeInteger(n) && n >= 1 ? { name: at[1], trigger: { kind: 'hit', n } } : { name: at[1], problem: `"${entry}": the hit number must be 1 or more` };
  }
  const chance = /^([a-z.-]+):([0-9]*\.?[0-9]+)$/.exec(entry);
  if (chance) {
    const p = Number(chance[2]);
    return p > 0 && p <= 1 ? { name: chance[1], trigger: { kind: 'probability', p } } : { name: chance[1], problem: `"${entry}": the probability must be above 0 and at most 1` };
  }
  return { name: '', problem: `"${entry.slice(0, 80)}": expected <name>@<N> or <name>:<probability>` };
}

/**
 * The plan a value of SAGA_FAULT_POINTS asks for (empty when unset or blank). Pure: throws
 * FaultPointConfigError for a bad value, or for any value in production without the override.
 */
export function parseFaultPoints(env: Record<string, string | undefined>): FaultPlan {
  const value = (env.SAGA_FAULT_POINTS ?? '').trim();
  const plan = new Map<FaultPointName, FaultTrigger>();
  if (value === '') return plan;
  if (env.NODE_ENV === 'production' && env.SAGA_FAULT_POINTS_IN_PRODUCTION !== 'true') {
    throw new FaultPointConfigError(
      'SAGA_FAULT_POINTS is set and NODE_ENV=production: fault points are for tests only (set SAGA_FAULT_POINTS_IN_PRODUCTION=true to arm them anyway)',
    );
  }
  const problems: string[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    const { name, trigger, problem } = parseTrigger(entry);
    if (problem) problems.push(problem);
    else if (!KNOWN.has(name)) problems.push(`"${name}" is not a fault point (known: ${FAULT_POINT_NAMES.join(', ')})`);
    else if (plan.has(name as FaultPointName)) problems.push(`"${name}" is named twice`);
    else plan.set(name as FaultPointName, trigger!);
  }
  if (problems.length > 0) throw new FaultPointConfigError(`Invalid SAGA_FAULT_POINTS:\n  ${problems.join('\n  ')}`);
  return plan;
}

/** `orchestrator.after-commit-before-ack@1, …`: for the start-up log line. */
export function describeFaultPlan(plan: FaultPlan): string {
  return [...plan].map(([name, trigger]) => (trigger.kind === 'hit' ? `${name}@${trigger.n}` : `${name}:${trigger.p}`)).join(', ');
}

interface Armed {
  plan: FaultPlan;
  hits: Map<FaultPointName, number>;
}

let read: FaultPlan | undefined;
let armed: Armed | undefined;

/**
 * Reads SAGA_FAULT_POINTS (first call only) and arms the points it names. Returns the plan, so
 * the caller can log it when it is not empty. Throws FaultPointConfigError for a bad value.
 */
export function armFaultPoints(env: Record<string, string | undefined> = process.env): FaultPlan {
  if (read) return read;
  const plan = parseFaultPoints(env);
  read = plan;
  armed = plan.size === 0 ? undefined : { plan, hits: new Map() };
  return plan;
}

/** Does nothing unless armed for `name`; armed, SIGKILLs the process when its trigger says so. */
export function faultPoint(name: FaultPointName): void {
  if (armed === undefined) return;
  const trigger = armed.plan.get(name);
  if (trigger === undefined) return;
  const hit = (armed.hits.get(name) ?? 0) + 1;
  armed.hits.set(name, hit);
  if (trigger.kind === 'hit' ? hit !== trigger.n : Math.random() >= trigger.p) return;
  try {
    writeSync(2, `fault point ${name} fired on hit ${hit}: SIGKILL (SAGA_FAULT_POINTS)\n`);
  } finally {
    process.kill(process.pid, 'SIGKILL');
  }
}
