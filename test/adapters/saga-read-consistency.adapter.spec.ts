/**
 * GET /sagas/{id} of an in-process orchestrator against the real PostgreSQL: the saga, its
 * steps and its history must come from one snapshot, or a reader sees a status that
 * contradicts the history next to it (seen in practice while polling a saga that timed out:
 * status RUNNING with COMPENSATION_SENT already in the history).
 *
 * Proves (deterministically, by holding a lock between the endpoint's reads): a transaction
 * that commits between the read of the saga row and the read of its steps/history must not
 * show up in only half of the answer.
 */
import { Client } from 'pg';
import { waitFor } from '../support/infra';
import { OrchestratorEnvironment, PLACE_ORDER_INPUT, type SagaRead } from './orchestrator-under-test';

describe('GET /sagas/{id} reads one snapshot', () => {
  let env: OrchestratorEnvironment;

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('read_snapshot');
    await env.start({ OUTBOX_POLL_MS: '60000' });
  });

  afterAll(async () => {
    await env?.close();
  });

  it('does not mix the saga row from before a commit with the history from after it', async () => {
    const id = await env.startSaga('place-order', PLACE_ORDER_INPUT);
    const writer = new Client({ connectionString: env.databaseUrl });
    await writer.connect();
    try {
      // Another writer (a replica handling an event) holds the steps table while the read starts.
      await writer.query('BEGIN');
      await writer.query('LOCK TABLE saga_steps IN ACCESS EXCLUSIVE MODE');
      const reading = env.http().get(`/sagas/${id}`).then((response) => response.body as SagaRead);
      await waitFor(async () => {
        const rows = await env.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%saga_steps%'`,
        );
        return rows.length > 0;
      }, 'the read to wait for the steps table (it has read the saga row already)');

      // The writer commits one event: status and history change together.
      await writer.query(`UPDATE saga_instances SET status = 'COMPENSATING', version = version + 1 WHERE id = $1`, [id]);
      await writer.query(`INSERT INTO saga_history (saga_id, type, at, reason) VALUES ($1, 'CANCEL_REQUESTED', now(), 'consistency probe')`, [id]);
      await writer.query('COMMIT');

      const saga = await reading;
      const sawCommit = saga.history.some((entry) => entry.type === 'CANCEL_REQUESTED');
      // Either all of the commit or none of it.
      expect({ status: saga.status, sawCommit }).toEqual(sawCommit ? { status: 'COMPENSATING', sawCommit: true } : { status: 'RUNNING', sawCommit: false });
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      await writer.end();
    }
  });
});
