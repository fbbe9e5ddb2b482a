/**
 * AMQP failover on a real 3-node RabbitMQ cluster (scripts/cluster, in a temp directory, ports
 * 5691-5693, next to the machine's own node, which this never touches): the orchestrator and the
 * three example participants get the list of the three nodes' URLs; in the middle of a mixed
 * workload the node holding the reply queue's leader crashes (SIGKILL of its VM). Every client was
 * connected to that node (the first URL), so this one fault takes the reply queue's leader and
 * every connection at once: the clients move to the next node, the quorum queues elect new
 * leaders, and every saga still ends as its input demands, with each participant effect exactly
 * once and nothing left in the outbox. The node is then started again and rejoins the cluster;
 * afterAll stops the cluster and deletes its directory whatever happened.
 *
 * The reply queue's leader is put on node 1 by a test-only policy (queue-leader-locator
 * client-local for that one queue; the cluster's default, balanced, would put it anywhere),
 * so the fault always hits both the leader and the connections.
 * What this test found, both fixed: a reply the broker nacked counted as the command's failure,
 * so commands were parked as poison after 5 quick nacks (now transient: libs/participant
 * consumer.ts); and a channel that published while the reply queue elected its leader kept
 * getting nacks long after (RabbitMQ 3.10.8), so sagas stalled (AmqpClient now replaces a
 * publish channel that was nacked).
 * Takes 34-47 s here (cluster start ~15 s, workload and failover 10-16 s, rejoin and stop);
 * seen: 366-375 of 400 sagas in flight at the kill, all finished 1.0-2.5 s after it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ctl, killNode, runningNodes, startCluster, startNode, stopCluster, type Cluster, type NodeSpec } from '../../scripts/cluster/local-cluster';
import { waitFor } from '../support/infra';
import { countTerminal, expectOutcomesAndEffects, startWorkloadInFlight } from '../e2e/place-order-workload';
import { TestSystem } from '../e2e/system-harness';

const SAGAS = 400;
const REPLY_QUEUE = 'saga.replies';

async function leaderOf(cluster: Cluster, via: NodeSpec, queue: string): Promise<string | undefined> {
  const rows = JSON.parse(await ctl(cluster.dir, via, ['list_queues', '-q', '-p', '/', 'name', 'leader', '--formatter', 'json'])) as { name: string; leader: string }[];
  return rows.find((row) => row.name === queue)?.leader;
}

describe('AMQP failover across a 3-node RabbitMQ cluster (adapter)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'saga-cluster-test-'));
  let cluster: Cluster;
  let system: TestSystem | undefined;

  beforeAll(async () => {
    cluster = await startCluster({ dir, basePort: 5691, namePrefix: 'saga-t' }, 60_000);
    const policy = `^${REPLY_QUEUE.replace('.', '\\.')}$`;
    await ctl(dir, cluster.nodes[0], [
      'set_policy',
      '-p',
      '/',
      'test-replies-on-node-1',
      policy,
      '{"queue-leader-locator":"client-local"}',
      '--apply-to',
      'queues',
      '--priority',
      '1',
    ]);
  }, 90_000);

  afterAll(async () => {
    await system?.close();
    await stopCluster(dir, { delete: true });
  }, 90_000);

  it('finishes every saga, each effect once, after the node of the reply queue leader crashes', async () => {
    const [first, second, third] = cluster.nodes;
    system = await TestSystem.start({ participants: false, amqpUrl: cluster.urls.join(',') });
    expect(await leaderOf(cluster, first, REPLY_QUEUE)).toBe(first.name);
    const { ids } = await startWorkloadInFlight(system, SAGAS, 'failover');

    const killedAt = Date.now();
    await killNode(first);
    const finishedAtStop = await countTerminal(system);
    expect(finishedAtStop).toBeLessThan(SAGAS); // the fault hit sagas in flight

    await waitFor(async () => (await countTerminal(system!)) === SAGAS, 'every saga to finish after the node crashed', 60_000, 100);
    const recoveredMs = Date.now() - killedAt;
    await expectOutcomesAndEffects(system, ids);
    // While the reply queue had no leader the broker nacked replies: retried, never parked.
    expect(await system.query('orchestrator', 'SELECT id FROM dead_letters')).toEqual([]);
    expect([second.name, third.name]).toContain(await leaderOf(cluster, second, REPLY_QUEUE));
    console.log(`cluster failover: ${SAGAS - finishedAtStop} of ${SAGAS} sagas unfinished when ${first.name} was killed; all finished ${(recoveredMs / 1000).toFixed(1)} s after`);

    // Restored: the node boots again and rejoins the cluster.
    await startNode(cluster, first, Date.now() + 60_000);
    await waitFor(async () => (await runningNodes(cluster, second)).length === 3, 'the killed node to rejoin', 30_000, 500);
  }, 150_000);
});
