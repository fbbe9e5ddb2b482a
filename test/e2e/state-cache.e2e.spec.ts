/**
 * The orchestrator's state cache against the real database and broker: a reply to a saga whose
 * state this process holds commits in one statement ("held" batches), and whatever the cache
 * holds, the database decides: a saga changed behind the process's back, or a reply seen before,
 * makes the held write fail whole and the batch is locked and read instead ("read" batches),
 * with exactly the outcome it would have had without a cache. No participant runs: the test
 * plays them by publishing replies.
 */
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { waitFor } from '../support/infra';
import { TestSystem, type SagaBody } from './system-harness';

describe('state cache (e2e)', () => {
  let system: TestSystem;
  let connection: ChannelModel;
  let channel: Channel;
  let id: string;

  const reply = (step: string, response: unknown) =>
    channel.sendToQueue('saga.replies', Buffer.from(JSON.stringify({ response, isDisposed: true })), { correlationId: `${id}/${step}/action/1`, persistent: true });

  const saga = async () => (await system.http().get(`/sagas/${id}`).expect(200)).body as SagaBody;
  const stepStatus = async (name: string) => (await saga()).steps.find((step) => step.name === name)?.status;

  const batches = async () => {
    const text = (await system.http().get('/metrics').expect(200)).text;
    const count = (path: string) => Number(new RegExp(`^saga_reply_batches_total\\{path="${path}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { held: count('held'), read: count('read') };
  };

  const stored = async () => {
    const [row] = await system.query<{ version: number; status: string; current_step: number }>(
      'orchestrator',
      'SELECT version, status, current_step FROM saga_instances WHERE id = $1',
      [id],
    );
    return row;
  };

  beforeAll(async () => {
    system = await TestSystem.start({ participants: false });
    connection = await connect(system.amqpUrl);
    channel = await connection.createChannel();
    const started = await system.startSaga('place-order', { customerId: 'c-cache', items: [{ sku: 'sku-1', quantity: 2 }], amount: 10 }).expect(202);
    id = started.body.id;
  });

  afterAll(async () => {
    await connection?.close();
    await system?.close();
  });

  it('commits a reply to a saga it started from the state it holds, in one statement', async () => {
    const before = await batches();
    reply('create-order', { orderId: id, status: 'CREATED' });
    await waitFor(async () => (await stepStatus('reserve-inventory')) === 'RUNNING', 'the second step to start');
    expect(await batches()).toEqual({ held: before.held + 1, read: before.read });
    // What the held write stored is what a fresh read gives: the next step runs from it.
    expect(await stored()).toEqual({ version: 2, status: 'RUNNING', current_step: 1 });
    expect((await saga()).steps.map((step) => [step.name, step.status, step.attempt])).toEqual([
      ['create-order', 'SUCCEEDED', 1],
      ['reserve-inventory', 'RUNNING', 1],
      ['charge-payment', 'PENDING', 0],
      ['approve-order', 'PENDING', 0],
    ]);
  });

  it('reads again when the saga changed behind its back, and writes nothing from the stale state', async () => {
    await system.query('orchestrator', 'UPDATE saga_instances SET version = version + 1 WHERE id = $1', [id]); // another writer
    const before = await batches();
    reply('reserve-inventory', { reservationId: id, items: [{ sku: 'sku-1', quantity: 2 }] });
    await waitFor(async () => (await stepStatus('charge-payment')) === 'RUNNING', 'the third step to start');
    expect(await batches()).toEqual({ held: before.held, read: before.read + 1 });
    expect(await stored()).toEqual({ version: 4, status: 'RUNNING', current_step: 2 });
    const received = (await saga()).history.filter((entry) => entry.type === 'REPLY_RECEIVED' && entry.step === 'reserve-inventory');
    expect(received).toHaveLength(1);
  });

  it('reads again for a reply it has seen before, and records it as a duplicate', async () => {
    const before = await batches();
    reply('create-order', { orderId: 'tampered', status: 'CREATED' }); // held again since the read above
    await waitFor(async () => (await saga()).history.some((entry) => entry.type === 'DUPLICATE_REPLY_IGNORED'), 'the duplicate to be recorded');
    expect(await batches()).toEqual({ held: before.held, read: before.read + 1 });
    // The duplicate's history entry is a write of the saga: it moves the version, and nothing else.
    expect(await stored()).toEqual({ version: 5, status: 'RUNNING', current_step: 2 });
    expect((await saga()).steps.find((step) => step.name === 'create-order')?.result).toEqual({ orderId: id, status: 'CREATED' });
  });

  it('holds the state it read for the duplicate, and goes on from it', async () => {
    const before = await batches();
    reply('charge-payment', { paymentId: id, status: 'CHARGED' });
    await waitFor(async () => (await stepStatus('approve-order')) === 'RUNNING', 'the pivot to start');
    expect(await batches()).toEqual({ held: before.held + 1, read: before.read });
    expect(await stored()).toEqual({ version: 6, status: 'RUNNING', current_step: 3 });
  });
});
