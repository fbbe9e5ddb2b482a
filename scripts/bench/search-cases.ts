/**
 * The GET /sagas filters measured by scripts/list-latency.ts and checked by
 * test/adapters/saga-search.adapter.spec.ts, against sagas seeded by scripts/bench/seed.ts
 * (place-order@1: COMPLETED, COMPENSATED every 10th with a failure entry, RUNNING at its first
 * step; business keys customer-<n % 50000>), with the index each one's plan must use.
 *
 * Guarantees: every case names the saga_instances index its first page is served by, and the
 * plan reads saga_instances through indexes only (planIndexes reports a Seq Scan as such).
 */
import { planSearch, type SagaSearchFilter, type SqlReader } from '../../apps/orchestrator/src/api/sagas/saga-search';

export interface SearchCase {
  name: string;
  filter: Omit<SagaSearchFilter, 'limit' | 'after'>;
  /** The saga_instances index the plan reads through. */
  index: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The cases, relative to `now` (the seed spreads finished sagas over 30 days, running over 1). */
export function searchCases(now: number): SearchCase[] {
  return [
    { name: 'no filter', filter: {}, index: 'ix_saga_updated' },
    { name: 'status=RUNNING', filter: { statuses: ['RUNNING'] }, index: 'ix_saga_status_updated' },
    { name: 'status=COMPENSATED,RUNNING', filter: { statuses: ['COMPENSATED', 'RUNNING'] }, index: 'ix_saga_status_updated' },
    { name: 'status=COMPENSATION_FAILED (none)', filter: { statuses: ['COMPENSATION_FAILED'] }, index: 'ix_saga_status_updated' },
    { name: 'name', filter: { name: 'place-order' }, index: 'ix_saga_name_version_updated' },
    { name: 'name+version', filter: { name: 'place-order', version: 1 }, index: 'ix_saga_name_version_updated' },
    { name: 'version (any name)', filter: { version: 1 }, index: 'ix_saga_name_version_updated' },
    { name: 'createdFrom/To (1 day, 7 days ago)', filter: { createdFrom: new Date(now - 8 * DAY), createdTo: new Date(now - 7 * DAY) }, index: 'ix_saga_created' },
    { name: 'updatedFrom/To (1 hour, 2 days ago)', filter: { updatedFrom: new Date(now - 2 * DAY - HOUR), updatedTo: new Date(now - 2 * DAY) }, index: 'ix_saga_updated' },
    { name: 'businessKey', filter: { businessKey: 'customer-123' }, index: 'ix_saga_business_key' },
    { name: 'hasExceptions=true', filter: { hasExceptions: true }, index: 'ix_saga_exceptions' },
    { name: 'hasExceptions=false', filter: { hasExceptions: false }, index: 'ix_saga_updated' },
    { name: 'step=create-order', filter: { steps: [{ name: 'place-order', version: 1, position: 0 }] }, index: 'ix_saga_current_step' },
    { name: 'step=charge-payment (none)', filter: { steps: [{ name: 'place-order', version: 1, position: 2 }] }, index: 'ix_saga_current_step' },
    { name: 'status=RUNNING+businessKey', filter: { statuses: ['RUNNING'], businessKey: 'customer-7' }, index: 'ix_saga_business_key' },
    { name: 'definitionMissing (place-order@1 unloaded)', filter: { unfinishedOf: [{ name: 'place-order', version: 1 }] }, index: 'ix_saga_name_version_updated' },
  ];
}

/** The saga_instances indexes a search's plan reads through, and whether it scans the table. */
export async function planIndexes(dataSource: SqlReader, filter: SagaSearchFilter): Promise<{ indexes: string[]; seqScan: boolean; plan: unknown }> {
  const { sql, values } = await planSearch(dataSource, filter);
  const [row]: { 'QUERY PLAN': unknown }[] = await dataSource.query(`EXPLAIN (FORMAT JSON) ${sql}`, values);
  const indexes = new Set<string>();
  let seqScan = false;
  const walk = (node: Record<string, unknown>) => {
    if (node['Relation Name'] === 'saga_instances' || node['Node Type'] === 'Bitmap Index Scan') {
      if (typeof node['Index Name'] === 'string' && node['Index Name'].includes('saga_')) indexes.add(node['Index Name']);
      if (node['Node Type'] === 'Seq Scan') seqScan = true;
    }
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  const plan = (row['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0].Plan;
  walk(plan);
  return { indexes: [...indexes], seqScan, plan };
}
