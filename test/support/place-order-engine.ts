/**
 * The place-order saga bound to a fixed clock, for adapter specs that drive the committer
 * directly: its definition, how its commands become outbox messages, and the first step's
 * success reply.
 */
import { commandEnvelope, commandRoutes, decide, validateDefinition, type ReplyEvent } from '#saga/core';
import type { Decide, ToOutbox } from '#saga/persistence';
import { demoCatalog } from '../../apps/orchestrator/src/definitions/built-in/demo-catalog';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';

export const placeOrderDefinition = validateDefinition(structuredClone(placeOrderSaga), demoCatalog('saga'), 'place-order');
const routes = commandRoutes(demoCatalog('saga'));
export const placeOrderToOutbox: ToOutbox = (command) => commandEnvelope(command, routes.get(command.command)!.queue, 'saga.replies', Date.now());
/** Far in the future, so timers set here are never due for anyone. */
export const FAR_NOW = Date.UTC(2100, 0, 1);
/** The engine deciding at FAR_NOW + 100 ms. */
export const placeOrderEngine: Decide = (state, event) => decide(placeOrderDefinition, state, event, FAR_NOW + 100);

export const createOrderReply = (orderId: string): ReplyEvent => ({
  type: 'REPLY',
  step: 'create-order',
  direction: 'action',
  attempt: 1,
  outcome: { kind: 'success', result: { orderId } },
});
