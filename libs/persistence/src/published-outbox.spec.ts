/**
 * PublishedOutbox: confirmed outbox ids wait for a write to delete them; only ids no write took
 * for a whole tick are handed out to be deleted on their own, and nothing is ever dropped.
 */
import fc from 'fast-check';
import { PublishedOutbox } from './published-outbox';

describe('PublishedOutbox', () => {
  it('hands an id to the publisher only after a whole tick without a write taking it', () => {
    const published = new PublishedOutbox();
    published.add('1');
    expect(published.takeAged()).toEqual([]); // the tick it arrived in
    published.add('2');
    expect(published.takeAged()).toEqual(['1']);
    expect(published.takeAged()).toEqual(['2']);
    expect(published.size).toBe(0);
  });

  it('lets a busy writer take everything first, so the ticks find nothing to delete on their own', () => {
    const published = new PublishedOutbox();
    for (let tick = 0; tick < 3; tick++) {
      published.add(`${tick}a`);
      published.add(`${tick}b`);
      expect(published.take()).toEqual([`${tick}a`, `${tick}b`]);
      expect(published.takeAged()).toEqual([]);
    }
  });

  it('gives the oldest first, at most `max` per write', () => {
    const published = new PublishedOutbox();
    published.add('1');
    published.add('2');
    published.takeAged();
    published.add('3');
    expect(published.take(2)).toEqual(['1', '2']);
    expect(published.take(2)).toEqual(['3']);
    expect(published.take(2)).toEqual([]);
  });

  it('keeps what a failed write gave back, as aged', () => {
    const published = new PublishedOutbox();
    published.add('1');
    const taken = published.take();
    published.add('2');
    published.restore(taken);
    expect(published.takeAged()).toEqual(['1']);
    expect(published.takeAll()).toEqual(['2']);
  });

  it('never loses or repeats an id, whatever the order of adds, writes, failures and ticks', () => {
    type Op = { kind: 'add' } | { kind: 'write'; max: number; fails: boolean } | { kind: 'tick' };
    const op = fc.oneof(
      fc.constant<Op>({ kind: 'add' }),
      fc.record({ kind: fc.constant('write' as const), max: fc.integer({ min: 1, max: 4 }), fails: fc.boolean() }),
      fc.constant<Op>({ kind: 'tick' }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const published = new PublishedOutbox();
        const deleted: string[] = [];
        let next = 0;
        for (const step of ops) {
          if (step.kind === 'add') published.add(String(next++));
          else if (step.kind === 'tick') deleted.push(...published.takeAged());
          else {
            const taken = published.take(step.max);
            expect(taken.length).toBeLessThanOrEqual(step.max);
            if (step.fails) published.restore(taken);
            else deleted.push(...taken);
          }
        }
        deleted.push(...published.takeAll());
        expect([...deleted].sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: next }, (_, index) => String(index)));
      }),
    );
  });
});
