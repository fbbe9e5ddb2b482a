/**
 * Payments and per-customer limits. Guarantees: see entities.ts.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreatePayments1763700000100 implements MigrationInterface {
  name = 'CreatePayments1763700000100';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE payments (
        payment_id  text PRIMARY KEY,
        customer_id text NOT NULL,
        amount      numeric(14, 2) NOT NULL CHECK (amount >= 0),
        status      text NOT NULL CHECK (status IN ('CHARGED', 'REFUNDED')),
        charged_at  timestamptz NOT NULL DEFAULT now(),
        refunded_at timestamptz,
        CHECK ((status = 'REFUNDED') = (refunded_at IS NOT NULL))
      )`);
    await queryRunner.query(`
      CREATE TABLE customer_limits (
        customer_id text PRIMARY KEY,
        max_amount  numeric(14, 2) NOT NULL CHECK (max_amount >= 0)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE customer_limits');
    await queryRunner.query('DROP TABLE payments');
  }
}
