/**
 * Handler registration: actions and compensations are declared with their patterns, and
 * inconsistent registrations are refused at start.
 */
import { HandlerRegistrationError } from './errors';
import { defineAction, defineCompensation, HandlerRegistry } from './handlers';
import { ok } from './outcomes';

const reserve = defineAction('inventory.reserve', { handle: async () => ok(1) });
const release = defineCompensation('inventory.release', 'inventory.reserve', { handle: async () => ok(2) });

describe('HandlerRegistry', () => {
  it('finds handlers by pattern', () => {
    const registry = new HandlerRegistry([reserve, release]);
    expect(registry.get('inventory.reserve')).toBe(reserve);
    expect(registry.get('inventory.release')).toMatchObject({ kind: 'compensation', undoes: 'inventory.reserve' });
    expect(registry.get('nope')).toBeUndefined();
    expect(registry.patterns).toEqual(['inventory.reserve', 'inventory.release']);
  });

  it('refuses two handlers for one pattern', () => {
    expect(() => new HandlerRegistry([reserve, reserve])).toThrow(HandlerRegistrationError);
  });

  it('refuses a compensation of an unregistered action', () => {
    expect(() => new HandlerRegistry([release])).toThrow(/not a registered action/);
  });

  it('refuses a compensation of a compensation', () => {
    const weird = defineCompensation('x.undo', 'inventory.release', { handle: async () => ok(0) });
    expect(() => new HandlerRegistry([reserve, release, weird])).toThrow(HandlerRegistrationError);
  });

  it('refuses an empty registry, with a stable code', () => {
    try {
      new HandlerRegistry([]);
      throw new Error('expected a throw');
    } catch (error) {
      expect(error).toBeInstanceOf(HandlerRegistrationError);
      expect((error as HandlerRegistrationError).code).toBe('PARTICIPANT_HANDLER_REGISTRATION');
      expect((error as Error).name).toBe('HandlerRegistrationError');
    }
  });
});
