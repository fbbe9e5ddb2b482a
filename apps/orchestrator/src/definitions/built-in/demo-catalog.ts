/**
 * The catalog of the three example participants shipped in apps/: which commands each serves
 * and the queue it listens on (`<prefix>.order`, `<prefix>.inventory`, `<prefix>.payment`).
 *
 * Guarantees: queue names match the example services' defaults for the same AMQP prefix.
 */
import type { ParticipantCatalog } from '#saga/core';

export function demoCatalog(prefix: string): ParticipantCatalog {
  return {
    participants: {
      order: { queue: `${prefix}.order`, commands: ['order.create', 'order.reject', 'order.approve'] },
      inventory: { queue: `${prefix}.inventory`, commands: ['inventory.reserve', 'inventory.release'] },
      payment: { queue: `${prefix}.payment`, commands: ['payment.charge', 'payment.refund'] },
    },
  };
}
