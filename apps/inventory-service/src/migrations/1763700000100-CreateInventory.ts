/**
 * Stock and reservations. Guarantees: see entities.ts; the CHECKs make a lost update or a double
 * release visible as a constraint error rather than silent drift.
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateInventory1763700000100 implements MigrationInterface {
  name = 'CreateInventory1763700000100';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE stock (
        sku       text PRIMARY KEY,
        on_hand   integer NOT NULL CHECK (on_hand >= 0),
        available integer NOT NULL CHECK (available >= 0 AND available <= on_hand)
      )`);
    await queryRunner.query(`
      CREATE TABLE reservations (
        reservation_id text PRIMARY KEY,
        status         text NOT NULL CHECK (status IN ('RESERVED', 'RELEASED')),
        created_at     timestamptz NOT NULL DEFAULT now(),
        released_at    timestamptz,
        CHECK ((status = 'RELEASED') = (released_at IS NOT NULL))
      )`);
    await queryRunner.query(`
      CREATE TABLE reservation_items (
        reservation_id text NOT NULL REFERENCES reservations (reservation_id),
        sku            text NOT NULL REFERENCES stock (sku),
        quantity       integer NOT NULL CHECK (quantity > 0),
        PRIMARY KEY (reservation_id, sku)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE reservation_items');
    await queryRunner.query('DROP TABLE reservations');
    await queryRunner.query('DROP TABLE stock');
  }
}
