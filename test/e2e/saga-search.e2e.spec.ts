/**
 * Finding sagas over REST (GET /sagas, GET /sagas/counts) with the real orchestrator and
 * participants: sagas started with business keys end COMPLETED or COMPENSATED (a declined
 * charge), then each filter finds exactly them, a cursor crosses a page boundary, the counts
 * add up, and bad filter values are 400s naming the field.
 */
import { TestSystem } from './system-harness';

interface Item {
  id: string;
  status: string;
  businessKey: string | null;
  currentStep: string | null;
  hasExceptions: boolean;
  failure: { type: string; code: string } | null;
  createdAt: string;
  updatedAt: string;
}

describe('saga search (e2e)', () => {
  let system: TestSystem;
  const ids: Record<'paid' | 'declined' | 'other', string> = { paid: '', declined: '', other: '' };
  let before: string;

  beforeAll(async () => {
    system = await TestSystem.start();
    before = new Date(Date.now() - 1000).toISOString();
    const start = async (customerId: string, amount: number) => {
      const started = await system.startSaga('place-order', { customerId, items: [{ sku: 'sku-1', quantity: 1 }], amount }).expect(202);
      return started.body.id as string;
    };
    ids.paid = await start('search-a', 40);
    ids.declined = await start('search-a', 9_000_000);
    ids.other = await start('search-b', 50);
    for (const id of Object.values(ids)) await system.waitForSaga(id);
  });

  afterAll(async () => {
    await system?.close();
  });

  const list = async (query: string): Promise<{ items: Item[]; next: string | null }> => (await system.http().get(`/sagas?${query}`).expect(200)).body;
  const idsOf = async (query: string) => (await list(query)).items.map((item) => item.id);

  it('finds sagas by business key, status, exceptions, name, version and time', async () => {
    const byKey = await list('businessKey=search-a');
    expect(byKey.items.map((item) => item.id).sort()).toEqual([ids.paid, ids.declined].sort());
    expect(byKey.next).toBeNull();
    const declined = byKey.items.find((item) => item.id === ids.declined)!;
    expect(declined).toMatchObject({ status: 'COMPENSATED', businessKey: 'search-a', hasExceptions: true, currentStep: null, failure: { type: 'business', code: 'DECLINED' } });
    expect(byKey.items.find((item) => item.id === ids.paid)).toMatchObject({ status: 'COMPLETED', hasExceptions: false, failure: null });
    expect((await system.http().get(`/sagas/${ids.paid}`).expect(200)).body).toMatchObject({ id: ids.paid, businessKey: 'search-a' });

    expect(await idsOf('businessKey=search-a&status=COMPENSATED')).toEqual([ids.declined]);
    expect(await idsOf('businessKey=search-a&hasExceptions=true')).toEqual([ids.declined]);
    expect(await idsOf('businessKey=search-a&hasExceptions=false')).toEqual([ids.paid]);
    expect((await idsOf('status=COMPLETED,COMPENSATED')).sort()).toEqual(Object.values(ids).sort());
    expect((await idsOf('status=COMPLETED&status=COMPENSATED')).sort()).toEqual(Object.values(ids).sort());
    expect(await idsOf('status=RUNNING')).toEqual([]);
    expect((await idsOf('name=place-order&version=1')).sort()).toEqual(Object.values(ids).sort());
    expect(await idsOf('name=place-order&version=2')).toEqual([]);
    expect((await idsOf(`createdFrom=${before}`)).sort()).toEqual(Object.values(ids).sort());
    expect(await idsOf(`createdTo=${before}`)).toEqual([]);
    expect((await idsOf(`updatedFrom=${before}&updatedTo=${new Date(Date.now() + 60_000).toISOString()}`)).sort()).toEqual(Object.values(ids).sort());
    expect(await idsOf('step=create-order')).toEqual([]); // every saga has finished: none is in flight
  });

  it('pages with the cursor, most recently changed first, without losing or repeating a saga', async () => {
    const all = await list('limit=500');
    const first = await list('limit=2');
    expect(first.items).toHaveLength(2);
    expect(first.next).toEqual(expect.any(String));
    const second = await list(`limit=2&cursor=${first.next}`);
    expect(second.next).toBeNull();
    const walked = [...first.items, ...second.items].map((item) => item.id);
    expect(walked).toEqual(all.items.map((item) => item.id));
    expect(new Set(walked).size).toBe(3);
    const times = all.items.map((item) => item.updatedAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('counts by status and by definition version', async () => {
    const counts = (await system.http().get('/sagas/counts').expect(200)).body;
    expect(counts.byStatus).toEqual(
      expect.arrayContaining([
        { status: 'COMPLETED', count: 2, exact: true },
        { status: 'COMPENSATED', count: 1, exact: true },
        { status: 'RUNNING', count: 0, exact: true },
      ]),
    );
    expect(counts.byDefinition).toEqual(
      expect.arrayContaining([
        { name: 'place-order', version: 1, status: 'COMPLETED', count: 2 },
        { name: 'place-order', version: 1, status: 'COMPENSATED', count: 1 },
      ]),
    );
  });

  it('answers 400 naming the field for bad filter values', async () => {
    const bad = async (query: string, field: string) => {
      const response = await system.http().get(`/sagas?${query}`).expect(400);
      expect(response.body.errors.map((error: { field: string }) => error.field)).toContain(field);
    };
    await bad('status=BOGUS', 'status');
    await bad('status=RUNNING,nope', 'status');
    await bad('cursor=abc', 'cursor');
    await bad('cursor=a%2Bb', 'cursor');
    await bad('createdFrom=yesterday', 'createdFrom');
    await bad('updatedTo=2026-01-01T00:00:00', 'updatedTo');
    await bad('createdFrom=2026-01-02T00:00:00Z&createdTo=2026-01-01T00:00:00Z', 'createdTo');
    await bad('hasExceptions=maybe', 'hasExceptions');
    await bad('limit=501', 'limit');
    await bad('version=0', 'version');
    await bad('step=no-such-step', 'step');
    await bad('name=place-order&step=pack', 'step');
    await bad('businessKey=', 'businessKey');
    await bad('businessKey=a%00b', 'businessKey');
    await bad('sort=id', 'sort');
  });
});
