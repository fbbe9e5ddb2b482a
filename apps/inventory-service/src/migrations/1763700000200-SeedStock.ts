/**
 * Seeds the demo catalogue: sku-1, sku-2, sku-3 with 1,000,000 units each.
 * Guarantees: idempotent (existing rows are left alone).
 */
import type { MigrationInterface, QueryRunner } from 'typeorm';

export const SEEDED_SKUS = ['sku-1', 'sku-2', 'sku-3'] as const;
export const SEEDED_QUANTITY = 1_000_000;

export class SeedStock1763700000200 implements MigrationInterface {
  name = 'SeedStock1763700000200';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`INSERT INTO stock (sku, on_hand, available) SELECT sku, $2, $2 FROM unnest($1::text[]) AS sku ON CONFLICT (sku) DO NOTHING`, [
      SEEDED_SKUS,
      SEEDED_QUANTITY,
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DELETE FROM stock WHERE sku = ANY($1::text[])', [SEEDED_SKUS]);
  }
}
