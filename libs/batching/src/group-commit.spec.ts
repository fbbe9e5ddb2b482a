/**
 * GroupCommit, pure: batches are controlled by deferred promises (no timers), and a macrotask
 * turn (setImmediate) lets the scheduler's promise chains settle between steps.
 */
import fc from 'fast-check';
import { GroupCommit, type GroupCommitHandlers, type GroupCommitOptions } from './group-commit';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise reaction run (one macrotask turn), no wall-clock wait. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Item {
  key: string;
  id: string;
}

const item = (key: string, id = key): Item => ({ key, id });

/** A GroupCommit whose batches stay open until the test settles them. */
function harness(options: Partial<GroupCommitOptions<Item>> = {}, single: (item: Item) => Promise<string> = async (it) => `single:${it.id}`) {
  const batches: { items: Item[]; done: Deferred<string[]> }[] = [];
  const singles: Item[] = [];
  let running = 0;
  let maxRunning = 0;
  const handlers: GroupCommitHandlers<Item, string> = {
    batch: async (items) => {
      const done = deferred<string[]>();
      batches.push({ items, done });
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        return await done.promise;
      } finally {
        running--;
      }
    },
    single: async (it) => {
      singles.push(it);
      return single(it);
    },
  };
  const group = new GroupCommit(handlers, { key: (it) => it.key, maxSize: 10, maxBatches: 1, ...options });
  const ok = (index: number) => batches[index].done.resolve(batches[index].items.map((it) => `batch:${it.id}`));
  return { group, batches, singles, ok, maxRunning: () => maxRunning };
}

const ids = (items: Item[]) => items.map((it) => it.id);

describe('GroupCommit', () => {
  it('hands a lone item over at once, alone, without waiting for others', async () => {
    const { group, batches, ok } = harness({ maxSize: 5 });
    const result = group.submit(item('a'));
    // Synchronously: no timer, no microtask turn between submit() and the batch starting.
    expect(batches.map((b) => ids(b.items))).toEqual([['a']]);
    expect(group.waiting).toBe(0);
    ok(0);
    await expect(result).resolves.toBe('batch:a');
  });

  it('batches the items that arrive while a batch runs, up to maxSize, in arrival order', async () => {
    const { group, batches, ok } = harness({ maxSize: 3, maxBatches: 1 });
    const results = ['a', 'b', 'c', 'd', 'e'].map((id) => group.submit(item(id)));
    expect(batches.map((b) => ids(b.items))).toEqual([['a']]);
    expect(group.waiting).toBe(4);
    ok(0);
    await settle();
    expect(batches.map((b) => ids(b.items))).toEqual([['a'], ['b', 'c', 'd']]);
    expect(group.waiting).toBe(1);
    ok(1);
    await settle();
    expect(batches.map((b) => ids(b.items))).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
    ok(2);
    await expect(Promise.all(results)).resolves.toEqual(['batch:a', 'batch:b', 'batch:c', 'batch:d', 'batch:e']);
  });

  it('runs at most maxBatches batches at once and starts the next when one ends', async () => {
    const { group, batches, ok, maxRunning } = harness({ maxSize: 1, maxBatches: 2 });
    const results = ['a', 'b', 'c', 'd'].map((id) => group.submit(item(id)));
    expect(batches.map((b) => ids(b.items))).toEqual([['a'], ['b']]);
    expect(group.waiting).toBe(2);
    ok(1); // the second one ends first: its slot goes to c
    await settle();
    expect(batches.map((b) => ids(b.items))).toEqual([['a'], ['b'], ['c']]);
    ok(0);
    await settle();
    expect(batches.map((b) => ids(b.items))).toEqual([['a'], ['b'], ['c'], ['d']]);
    ok(2);
    ok(3);
    await expect(Promise.all(results)).resolves.toEqual(['batch:a', 'batch:b', 'batch:c', 'batch:d']);
    expect(maxRunning()).toBe(2);
  });

  it('never puts two items of one key in a batch nor in two running batches, and keeps their order', async () => {
    const { group, batches, ok } = harness({ maxSize: 10, maxBatches: 2 });
    const results = [item('k1', 'k1#1'), item('k1', 'k1#2'), item('k2', 'k2#1'), item('k1', 'k1#3'), item('k3', 'k3#1')].map((it) => group.submit(it));
    // k1#1 went alone at once; k2#1 took the second slot; k1#2, k1#3 and k3#1 wait.
    expect(batches.map((b) => ids(b.items))).toEqual([['k1#1'], ['k2#1']]);
    expect(group.waiting).toBe(3);
    ok(1); // a slot frees while k1 is still running: only k3#1 may take it, though k1's items came first
    await settle();
    expect(batches.map((b) => ids(b.items))).toEqual([['k1#1'], ['k2#1'], ['k3#1']]);
    expect(group.waiting).toBe(2);
    ok(0); // k1 is free: its next item goes, alone (k1#3 may not share its batch)
    await settle();
    expect(batches.map((b) => ids(b.items))).toEqual([['k1#1'], ['k2#1'], ['k3#1'], ['k1#2']]);
    expect(group.waiting).toBe(1);
    ok(3);
    await settle();
    expect(batches.map((b) => ids(b.items))).toEqual([['k1#1'], ['k2#1'], ['k3#1'], ['k1#2'], ['k1#3']]);
    ok(2);
    ok(4);
    await expect(Promise.all(results)).resolves.toEqual(['batch:k1#1', 'batch:k1#2', 'batch:k2#1', 'batch:k1#3', 'batch:k3#1']);
  });

  it('settles each item of a failed batch with the outcome of handling it alone', async () => {
    const own = new Error('b is bad on its own');
    const { group, batches, singles, ok } = harness({ maxSize: 10 }, async (it) => {
      if (it.id === 'b') throw own;
      return `single:${it.id}`;
    });
    const first = group.submit(item('x'));
    const a = group.submit(item('a'));
    const b = group.submit(item('b'));
    const c = group.submit(item('c'));
    ok(0);
    await settle();
    expect(batches.map((bt) => ids(bt.items))).toEqual([['x'], ['a', 'b', 'c']]);
    batches[1].done.reject(new Error('the batch failed'));
    await expect(first).resolves.toBe('batch:x');
    await expect(a).resolves.toBe('single:a');
    await expect(b).rejects.toBe(own);
    await expect(c).resolves.toBe('single:c');
    expect(ids(singles).sort()).toEqual(['a', 'b', 'c']);
  });

  it('rejects a lone item of a failed batch with the batch error, without retrying it alone', async () => {
    const { group, batches, singles } = harness();
    const failure = new Error('alone and failed');
    const result = group.submit(item('a'));
    batches[0].done.reject(failure);
    await expect(result).rejects.toBe(failure);
    expect(singles).toEqual([]);
  });

  it('treats a batch returning the wrong number of results as failed', async () => {
    const { group, batches, singles, ok } = harness({ maxSize: 10 });
    const first = group.submit(item('x'));
    const a = group.submit(item('a'));
    const b = group.submit(item('b'));
    ok(0);
    await settle();
    expect(batches.map((bt) => ids(bt.items))).toEqual([['x'], ['a', 'b']]);
    batches[1].done.resolve(['only one']);
    await expect(first).resolves.toBe('batch:x');
    await expect(a).resolves.toBe('single:a');
    await expect(b).resolves.toBe('single:b');
    expect(ids(singles).sort()).toEqual(['a', 'b']);

    const c = group.submit(item('c'));
    batches[2].done.resolve(['one', 'too many']);
    await expect(c).rejects.toThrow(/1 items returned 2 results/);
  });

  it('goes on after a failed batch: the next items are batched again', async () => {
    const { group, batches, ok } = harness({ maxSize: 10 });
    const a = group.submit(item('a'));
    const b = group.submit(item('b'));
    batches[0].done.reject(new Error('boom'));
    await expect(a).rejects.toThrow('boom');
    await settle();
    expect(batches.map((bt) => ids(bt.items))).toEqual([['a'], ['b']]);
    ok(1);
    await expect(b).resolves.toBe('batch:b');
  });

  it.each([
    ['maxSize 0', { maxSize: 0, maxBatches: 1 }],
    ['maxSize 1.5', { maxSize: 1.5, maxBatches: 1 }],
    ['maxSize NaN', { maxSize: Number.NaN, maxBatches: 1 }],
    ['maxBatches 0', { maxSize: 1, maxBatches: 0 }],
    ['maxBatches -1', { maxSize: 1, maxBatches: -1 }],
    ['maxBatches Infinity', { maxSize: 1, maxBatches: Number.POSITIVE_INFINITY }],
  ])('refuses %s with a RangeError', (_name, sizes) => {
    const handlers: GroupCommitHandlers<Item, string> = { batch: async () => [], single: async () => '' };
    expect(() => new GroupCommit(handlers, { key: (it) => it.key, ...sizes })).toThrow(RangeError);
  });

  it('keeps every guarantee for random arrivals and random batch completions', async () => {
    type Step = { kind: 'submit'; key: number } | { kind: 'finish'; pick: number; fail: boolean };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ kind: fc.constant('submit' as const), key: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(), fail: fc.boolean() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.array(step, { maxLength: 40 }), async (maxSize, maxBatches, steps) => {
        const open: { items: Item[]; done: Deferred<string[]> }[] = [];
        const handled: Item[] = []; // in the order batches/singles took them
        const busyKeys = new Set<string>();
        const violations: string[] = [];
        const group = new GroupCommit<Item, string>(
          {
            batch: async (items) => {
              if (items.length > maxSize) violations.push(`batch of ${items.length} > ${maxSize}`);
              if (open.length + 1 > maxBatches) violations.push(`${open.length + 1} batches running > ${maxBatches}`);
              for (const it of items) {
                if (busyKeys.has(it.key)) violations.push(`key ${it.key} twice at once`);
                busyKeys.add(it.key);
                handled.push(it);
              }
              const entry = { items, done: deferred<string[]>() };
              open.push(entry);
              try {
                return await entry.done.promise;
              } finally {
                open.splice(open.indexOf(entry), 1);
                for (const it of items) busyKeys.delete(it.key);
              }
            },
            single: async (it) => {
              // Still inside its failed batch's turn: no other batch may hold the key meanwhile.
              if (busyKeys.has(it.key)) violations.push(`key ${it.key} twice at once`);
              busyKeys.add(it.key);
              await settle();
              busyKeys.delete(it.key);
              return `single:${it.id}`;
            },
          },
          { key: (it) => it.key, maxSize, maxBatches },
        );
        const submitted: { it: Item; result: Promise<string> }[] = [];
        const settled = new Map<string, string>();
        let n = 0;
        const run = async (s: Step) => {
          if (s.kind === 'submit') {
            const it = item(`k${s.key}`, `k${s.key}#${n++}`);
            const result = group.submit(it);
            result.then(
              (value) => settled.set(it.id, value),
              (error: Error) => settled.set(it.id, `error:${error.message}`),
            );
            submitted.push({ it, result });
          } else if (open.length > 0) {
            const entry = open[s.pick % open.length];
            if (s.fail) entry.done.reject(new Error('batch failed'));
            else entry.done.resolve(entry.items.map((it) => `batch:${it.id}`));
          }
          await settle();
        };
        for (const s of steps) await run(s);
        // Drain: finish whatever runs until every submit() settled (or give up: a lost item).
        for (let turns = 0; settled.size < submitted.length && turns < 1000; turns++) await run({ kind: 'finish', pick: 0, fail: false });
        expect(violations).toEqual([]);
        expect(group.waiting).toBe(0);
        // Each item settled once; a lone failed item gets the batch error, others their own outcome.
        expect(settled.size).toBe(submitted.length);
        for (const { it } of submitted) expect(settled.get(it.id)).toMatch(new RegExp(`^(batch:${it.id}|single:${it.id}|error:batch failed)$`));
        // One key's items were taken in submission order.
        for (const key of ['k0', 'k1', 'k2', 'k3']) {
          const order = handled.filter((it) => it.key === key).map((it) => it.id);
          expect(order).toEqual(submitted.filter(({ it }) => it.key === key).map(({ it }) => it.id));
        }
      }),
      { numRuns: 150 },
    );
  });
});
