/**
 * `npm run cluster -- start|stop|status [--dir .cluster] [--nodes 3] [--base-port 5681]
 * [--name-prefix saga-c] [--timeout-s 120] [--delete]`: a local RabbitMQ cluster next to the
 * machine's own node (which it never touches). See docs/operations.md "A local RabbitMQ cluster".
 *
 * Guarantees: start prints the AMQP URL list (AMQP_URL=...) only once every node runs in one
 * cluster; every command is bounded in time and exits non-zero with the reason; stop --delete
 * removes the directory only if start created it.
 */
import { parseArgs } from 'node:util';
import { clusterStatus, loadCluster, startCluster, stopCluster } from './cluster/local-cluster';

const USAGE = 'usage: npm run cluster -- start|stop|status [--dir .cluster] [--nodes 3] [--base-port 5681] [--name-prefix saga-c] [--timeout-s 120] [--delete]';

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: 'string', default: '.cluster' },
      nodes: { type: 'string', default: '3' },
      'base-port': { type: 'string', default: '5681' },
      'name-prefix': { type: 'string', default: 'saga-c' },
      'timeout-s': { type: 'string', default: '120' },
      delete: { type: 'boolean', default: false },
    },
  });
  const [command] = positionals;
  if (command === 'start') {
    const cluster = await startCluster(
      { dir: values.dir, nodes: Number(values.nodes), basePort: Number(values['base-port']), namePrefix: values['name-prefix'] },
      Number(values['timeout-s']) * 1000,
    );
    console.log(`cluster running in ${cluster.dir}: ${cluster.nodes.map((n) => n.name).join(', ')}`);
    console.log(`AMQP_URL=${cluster.urls.join(',')}`);
    return 0;
  }
  if (command === 'stop') {
    const cluster = await stopCluster(values.dir, { delete: values.delete });
    console.log(cluster ? `stopped ${cluster.nodes.map((n) => n.name).join(', ')}${values.delete ? `; deleted ${cluster.dir}` : ''}` : `no cluster in ${values.dir}`);
    return 0;
  }
  if (command === 'status') {
    const cluster = loadCluster(values.dir);
    if (!cluster) {
      console.log(`no cluster in ${values.dir}`);
      return 1;
    }
    const states = await clusterStatus(cluster);
    for (const { node, up, running } of states) console.log(`${node.name} amqp 127.0.0.1:${node.amqpPort} ${up ? `up, sees running: ${running.join(', ')}` : 'down'}`);
    const healthy = states.every((state) => state.up && state.running.length === cluster.nodes.length);
    console.log(healthy ? `AMQP_URL=${cluster.urls.join(',')}` : 'cluster not fully running');
    return healthy ? 0 : 1;
  }
  console.error(USAGE);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`cluster: ${error.message}`);
    if (process.argv.includes('start')) console.error('nodes it started may still run: `npm run cluster -- stop --dir <dir> --delete` removes them');
    process.exit(1);
  },
);
