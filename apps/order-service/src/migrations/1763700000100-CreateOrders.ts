/**
 * The orders table. Guarantees: see entities.ts.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateOrders1763700000100 implements MigrationInterface {
  name = 'CreateOrders1763700000100';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE orders (
        order_id    text PRIMARY KEY,
        customer_id text NOT NULL,
        items       jsonb NOT NULL,
        amount      numeric(14, 2) NOT NULL CHECK (amount >= 0),
        status      text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE orders');
  }
}
