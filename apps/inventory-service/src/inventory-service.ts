/**
 * inventory-service as a participant service spec (stock: reserve, release (compensation); seeded with
 * sku-1..3). Everything else, configuration,
 * database, migrations and the transport serving InventoryController, comes from the toolkit
 * (bootstrapParticipantService).
 *
 * Configuration: AMQP_URL, AMQP_PREFIX and INVENTORY_DATABASE_URL (default below); queue
 * `<AMQP_PREFIX>.inventory`.
 */
import type { ParticipantServiceSpec } from '#saga/participant';
import { INVENTORY_ENTITIES } from './entities';
import { CreateInventory1763700000100 } from './migrations/1763700000100-CreateInventory';
import { SeedStock1763700000200 } from './migrations/1763700000200-SeedStock';
import { InventoryController } from './inventory.controller';

export const inventoryService: ParticipantServiceSpec = {
  name: 'inventory-service',
  queueSuffix: 'inventory',
  databaseUrlVariable: 'INVENTORY_DATABASE_URL',
  defaultDatabaseUrl: 'postgres://postgres@127.0.0.1:5432/saga_inventory',
  entities: INVENTORY_ENTITIES,
  migrations: [CreateInventory1763700000100, SeedStock1763700000200],
  controllers: [InventoryController],
  // Its handlers read by key only: their prepared plans stay on the indexes as tables grow.
  indexReadsForHandlers: true,
};
