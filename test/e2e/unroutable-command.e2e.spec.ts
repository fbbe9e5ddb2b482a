/**
 * A command whose participant queue has disappeared is not lost (docs/semantics.md S4): the relay publishes
 * with `mandatory`, the broker returns it, and it is parked in the dead-letter queue with the
 * reason and its original queue, where an operator can see and replay it.
 */
import { connect, type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { waitFor } from '../support/infra';
import { TestSystem } from './system-harness';

describe('unroutable commands (e2e)', () => {
  let system: TestSystem;
  let connection: ChannelModel;
  let channel: Channel;

  beforeAll(async () => {
    // This file reads saga.dead-letter itself: the orchestrator must not take it into its table.
    system = await TestSystem.start({ participants: false, env: { DEAD_LETTER_INTAKE: 'false' } });
    connection = await connect(system.amqpUrl);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    await connection?.close();
    await system?.close();
  });

  it('parks the command in the dead-letter queue with the reason', async () => {
    await channel.deleteQueue('saga.order');
    const started = await system.startSaga('place-order', { customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 1 }], amount: 5 }).expect(202);
    const parked = await waitFor(async () => (await channel.get('saga.dead-letter', { noAck: true })) || undefined, 'the command in the dead-letter queue');
    const message = parked as GetMessage;
    expect(message.properties.headers?.['x-dead-letter-reason']).toBe('unroutable: no queue named "saga.order" exists');
    expect(message.properties.headers?.['x-dead-letter-source']).toBe('saga.order');
    expect(message.properties.messageId).toBe(`${started.body.id}/create-order/action`);
    expect(JSON.parse(message.content.toString())).toMatchObject({ pattern: 'order.create', data: { orderId: started.body.id } });
    // The parked command's row is deleted like a confirmed one: by the next write, or on its own within two ticks.
    await waitFor(async () => {
      const [{ n }] = await system.query<{ n: number }>('orchestrator', 'SELECT count(*)::int AS n FROM saga_outbox');
      return n === 0 || undefined;
    }, 'the outbox row of the parked command to be deleted');
  });
});
