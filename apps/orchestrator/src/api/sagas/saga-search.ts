/**
 * GET /sagas: the SQL that finds sagas among millions, built from a filter
 * object with bound parameters only (no value of the request enters the SQL text; the page size,
 * a validated integer, is the one number written into it).
 *
 * Guarantees:
 * - Order is updated_at DESC, id DESC, a total order; the cursor is the last row's (updated_at
 *   with its microseconds, read as text from SQL, and id), so paging never loses or repeats a
 *   row, also when rows tie on updated_at. A row that changes while one pages moves to the top
 *   (it may then be seen again on a later walk, never lost from the walk it was in when
 *   unchanged).
 * - Every filter's page is served by an index (migrations/1765100000000-SagaSearch.ts) and
 *   stops after `limit + 1` rows: several statuses, a name without a version and the current
 *   step are one index range per value (LATERAL), merged; the versions of a name (and the names,
 *   for a version alone) are found by a loose index scan, not from the loaded definitions, so
 *   sagas of an unloaded version are found.
 * - Statements are unnamed, so each is planned for its own values (a partial index is only
 *   used when the plan can see the value).
 * - A created range (created_at does not follow the order) is read whole and sorted when
 *   PostgreSQL estimates it holds at most CREATED_RANGE_SORT_ROWS sagas (one planning-only
 *   round trip first); a wider one walks ix_saga_updated, fast when the range reaches recent
 *   sagas, slow (a walk past every saga changed since) for a wide range far in the past:
 *   narrow it or add updatedTo.
 */
import type { SagaStatus } from '#saga/core';
import type { DataSource } from 'typeorm';

/** What runs the statements: the orchestrator's DataSource, or any session that reads the same way. */
export type SqlReader = Pick<DataSource, 'query'>;

/** Where a page starts: after this row in the order (updated_at DESC, id DESC). */
export interface SearchCursor {
  /** updated_at as ISO text in UTC with microseconds, e.g. 2026-12-06T04:50:00.123456Z. */
  updatedAt: string;
  id: string;
}

/** A position of a step: the step named in a filter, in one definition version. */
export interface StepPosition {
  name: string;
  version: number;
  position: number;
}

export interface SagaSearchFilter {
  statuses?: readonly SagaStatus[];
  name?: string;
  version?: number;
  createdFrom?: Date;
  createdTo?: Date;
  updatedFrom?: Date;
  updatedTo?: Date;
  businessKey?: string;
  hasExceptions?: boolean;
  /** The current-step filter, resolved to positions (empty: no saga can match). */
  steps?: readonly StepPosition[];
  /** Only unfinished sagas (RUNNING, COMPENSATING) of these definition versions: those whose
   *  version is not loaded (`definitionMissing`; empty: no saga can match). */
  unfinishedOf?: readonly { name: string; version: number }[];
  limit: number;
  after?: SearchCursor;
  /** Set by searchSagas: the created range holds few enough sagas to read it whole and sort. */
  readCreatedRange?: boolean;
}

export interface SagaSearchRow {
  id: string;
  definition_name: string;
  definition_version: number;
  status: SagaStatus;
  business_key: string | null;
  failure: { step: string | null; type: string; code: string; message: string } | null;
  has_exceptions: boolean;
  created_at: Date;
  updated_at: Date;
  cursor_at: string;
  step_name: string | null;
  attempt: number | null;
  compensation_attempt: number | null;
}

const CURSOR = /^s1:(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export function encodeCursor(cursor: SearchCursor): string {
  return Buffer.from(`s1:${cursor.updatedAt}|${cursor.id}`).toString('base64url');
}

/** The position a cursor names, or undefined when it is not one this API gave out. */
export function decodeCursor(text: string): SearchCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return undefined;
  const match = CURSOR.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!match) return undefined;
  const ms = Date.parse(match[1].replace(/\d{3}Z$/, 'Z'));
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 19) !== match[1].slice(0, 19)) return undefined;
  return { updatedAt: match[1], id: match[2] };
}

/** Collects bound parameters: `bind(value)` gives its placeholder. */
class Params {
  readonly values: unknown[] = [];
  bind(value: unknown, type: string): string {
    this.values.push(value);
    return `$${this.values.length}::${type}`;
  }
}

const ORDER = 'ORDER BY i.updated_at DESC, i.id DESC';
const COLUMNS = `i.id, i.definition_name, i.definition_version, i.status, i.business_key, i.failure, i.current_step, i.has_exceptions,
       i.created_at, i.updated_at, to_char(i.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at`;

/** The conditions every branch shares (all but the one the branch ranges over). */
function commonConditions(filter: SagaSearchFilter, params: Params, omit: { status?: boolean; nameVersion?: boolean }): string[] {
  const where: string[] = [];
  if (filter.statuses?.length === 1 && !omit.status) where.push(`i.status = ${params.bind(filter.statuses[0], 'text')}`);
  if (filter.statuses && filter.statuses.length > 1 && !omit.status) where.push(`i.status = ANY(${params.bind(filter.statuses, 'text[]')})`);
  if (filter.name !== undefined && !omit.nameVersion) where.push(`i.definition_name = ${params.bind(filter.name, 'text')}`);
  if (filter.version !== undefined && !omit.nameVersion) where.push(`i.definition_version = ${params.bind(filter.version, 'int')}`);
  if (filter.createdFrom) where.push(`i.created_at >= ${params.bind(filter.createdFrom.toISOString(), 'timestamptz')}`);
  if (filter.createdTo) where.push(`i.created_at < ${params.bind(filter.createdTo.toISOString(), 'timestamptz')}`);
  if (filter.updatedFrom) where.push(`i.updated_at >= ${params.bind(filter.updatedFrom.toISOString(), 'timestamptz')}`);
  if (filter.updatedTo) where.push(`i.updated_at < ${params.bind(filter.updatedTo.toISOString(), 'timestamptz')}`);
  if (filter.businessKey !== undefined) where.push(`i.business_key = ${params.bind(filter.businessKey, 'text')}`);
  // Literal, not bound: the partial index ix_saga_exceptions is chosen only on this exact predicate.
  if (filter.hasExceptions === true) where.push('i.has_exceptions');
  if (filter.hasExceptions === false) where.push('NOT i.has_exceptions');
  if (filter.after) where.push(`(i.updated_at, i.id) < (${params.bind(filter.after.updatedAt, 'timestamptz')}, ${params.bind(filter.after.id, 'uuid')})`);
  return where;
}

const whereOf = (conditions: string[]): string => (conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`);

/** The page's saga rows (limit + 1 of them), before the current step is joined. */
function pageSql(filter: SagaSearchFilter, params: Params): string {
  if (!Number.isInteger(filter.limit) || filter.limit < 1) throw new RangeError('limit must be a positive integer');
  const take = filter.limit + 1; // a validated integer: the one value written into the SQL text
  const branch = (extra: string[], omit: { status?: boolean; nameVersion?: boolean }) => {
    const where = [...extra, ...commonConditions(filter, params, omit)];
    return `SELECT ${COLUMNS} FROM saga_instances i ${whereOf(where)} ${ORDER} LIMIT ${take}`;
  };
  /** The matching rows read whole through their created range, then sorted: OFFSET 0 keeps the
   *  subquery from being merged into the ordered one, so the planner cannot walk ix_saga_updated
   *  past every newer saga instead. */
  const sortedRange = () => {
    const where = commonConditions(filter, params, {});
    return `SELECT ${COLUMNS} FROM saga_instances i
       WHERE i.id IN (SELECT m.id FROM (SELECT i.id, i.updated_at FROM saga_instances i ${whereOf(where)} OFFSET 0) m
                       ORDER BY m.updated_at DESC, m.id DESC LIMIT ${take})
       ${ORDER}`;
  };
  const merged = (keys: string, inner: string) => `SELECT page.* FROM ${keys} CROSS JOIN LATERAL (${inner}) page ORDER BY page.updated_at DESC, page.id DESC LIMIT ${take}`;

  if (filter.unfinishedOf) {
    // One ordered range of ix_saga_name_version_updated per version, in flight only.
    const versions = filter.unfinishedOf.filter((v) => (filter.name === undefined || v.name === filter.name) && (filter.version === undefined || v.version === filter.version));
    const keys = `unnest(${params.bind(
      versions.map((v) => v.name),
      'text[]',
    )}, ${params.bind(
      versions.map((v) => v.version),
      'int[]',
    )}) AS k(name, version)`;
    const inner = branch(['i.definition_name = k.name', 'i.definition_version = k.version', `i.status IN ('RUNNING', 'COMPENSATING')`], { nameVersion: true });
    return merged(keys, inner);
  }
  if (filter.steps) {
    // The positions of the step in each version; in flight only (the partial index ix_saga_current_step).
    const positions = filter.steps.filter((p) => (filter.name === undefined || p.name === filter.name) && (filter.version === undefined || p.version === filter.version));
    const keys = `unnest(${params.bind(
      positions.map((p) => p.name),
      'text[]',
    )}, ${params.bind(
      positions.map((p) => p.version),
      'int[]',
    )}, ${params.bind(
      positions.map((p) => p.position),
      'int[]',
    )}) AS k(name, version, position)`;
    const inner = branch(['i.definition_name = k.name', 'i.definition_version = k.version', 'i.current_step = k.position', 'i.current_step >= 0'], {
      nameVersion: true,
    });
    return merged(keys, inner);
  }
  if (filter.statuses && filter.statuses.length > 1) {
    return merged(`unnest(${params.bind(filter.statuses, 'text[]')}) AS k(status)`, branch(['i.status = k.status'], { status: true }));
  }
  if (filter.name === undefined && filter.version !== undefined && filter.businessKey === undefined) {
    // A version of any definition: a loose index scan for the names, then one ordered range each.
    const keys = `(WITH RECURSIVE names(name) AS (
        SELECT min(definition_name) FROM saga_instances
        UNION ALL
        SELECT (SELECT min(definition_name) FROM saga_instances WHERE definition_name > n.name) FROM names n WHERE n.name IS NOT NULL
      ) SELECT name FROM names WHERE name IS NOT NULL) AS k`;
    return merged(keys, branch(['i.definition_name = k.name', `i.definition_version = ${params.bind(filter.version, 'int')}`], { nameVersion: true }));
  }
  if (filter.name !== undefined && filter.version === undefined && filter.businessKey === undefined) {
    // A loose index scan for the versions stored under the name, then one ordered range each.
    const name = params.bind(filter.name, 'text');
    const keys = `(WITH RECURSIVE versions(version) AS (
        SELECT min(definition_version) FROM saga_instances WHERE definition_name = ${name}
        UNION ALL
        SELECT (SELECT min(definition_version) FROM saga_instances WHERE definition_name = ${name} AND definition_version > v.version)
          FROM versions v WHERE v.version IS NOT NULL
      ) SELECT version FROM versions WHERE version IS NOT NULL) AS k`;
    return merged(keys, branch([`i.definition_name = ${name}`, 'i.definition_version = k.version'], { nameVersion: true }));
  }
  return filter.readCreatedRange ? sortedRange() : branch([], {});
}

/** Up to this many sagas (PostgreSQL's estimate) in a created range, the range is read whole and
 *  sorted (an index-only scan of ix_saga_created, on (created_at, updated_at, id)); beyond,
 *  the page walks ix_saga_updated. */
export const CREATED_RANGE_SORT_ROWS = 50_000;

/** PostgreSQL's estimate of the sagas created in the filter's range (planning only, no scan). */
async function createdRangeRows(dataSource: SqlReader, filter: SagaSearchFilter): Promise<number> {
  const params = new Params();
  const where = [
    filter.createdFrom && `created_at >= ${params.bind(filter.createdFrom.toISOString(), 'timestamptz')}`,
    filter.createdTo && `created_at < ${params.bind(filter.createdTo.toISOString(), 'timestamptz')}`,
  ].filter(Boolean) as string[];
  const [row]: { 'QUERY PLAN': { Plan: { 'Plan Rows': number } }[] }[] = await dataSource.query(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM saga_instances ${whereOf(where)}`,
    params.values,
  );
  return row['QUERY PLAN'][0].Plan['Plan Rows'];
}

/** Whether the page is best read through the created range (plain filters with a created range only). */
async function readsCreatedRange(dataSource: SqlReader, filter: SagaSearchFilter): Promise<boolean> {
  const plain = !filter.steps && !filter.unfinishedOf && (filter.statuses?.length ?? 0) <= 1 && !(filter.name !== undefined && filter.version === undefined);
  if (!plain || (!filter.createdFrom && !filter.createdTo) || filter.businessKey !== undefined) return false;
  return (await createdRangeRows(dataSource, filter)) <= CREATED_RANGE_SORT_ROWS;
}

/** Runs one page of a search: up to `limit` rows and whether more follow. */
export async function searchSagas(dataSource: SqlReader, filter: SagaSearchFilter): Promise<{ rows: SagaSearchRow[]; more: boolean }> {
  if ((filter.steps && filter.steps.length === 0) || (filter.unfinishedOf && filter.unfinishedOf.length === 0)) return { rows: [], more: false };
  const { sql, values } = searchStatement({ ...filter, readCreatedRange: await readsCreatedRange(dataSource, filter) });
  const rows: SagaSearchRow[] = await dataSource.query(sql, values);
  return { rows: rows.slice(0, filter.limit), more: rows.length > filter.limit };
}

/** The statement and its values (exported for EXPLAIN in tests and the latency script);
 *  `planSearch` gives the statement searchSagas would run. */
export async function planSearch(dataSource: SqlReader, filter: SagaSearchFilter): Promise<{ sql: string; values: unknown[] }> {
  return searchStatement({ ...filter, readCreatedRange: await readsCreatedRange(dataSource, filter) });
}

export function searchStatement(filter: SagaSearchFilter): { sql: string; values: unknown[] } {
  const params = new Params();
  const page = pageSql(filter, params);
  const sql = `
    SELECT p.id, p.definition_name, p.definition_version, p.status, p.business_key, p.failure, p.has_exceptions, p.created_at, p.updated_at,
           p.cursor_at, s.name AS step_name, s.attempt, s.compensation_attempt
      FROM (${page}) p
      LEFT JOIN saga_steps s ON s.saga_id = p.id AND s.position = p.current_step
     ORDER BY p.updated_at DESC, p.id DESC`;
  return { sql, values: params.values };
}
