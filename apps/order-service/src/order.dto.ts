/**
 * order-service payloads as class-validator DTOs (checked by SagaValidationPipe before a
 * method runs; data that fails is answered INVALID_COMMAND and copied to the dead-letter queue).
 *
 * Guarantees: ids are non-empty strings; an order has at least one line, each a non-empty sku
 * and a positive integer quantity; the amount is a number ≥ 0, below 1e12, with at most two
 * decimals (what numeric(14, 2) stores exactly). Unknown keys are dropped.
 */
import { Type } from 'class-transformer';
import { ArrayMinSize, IsArray, IsInt, IsPositive, IsString, MinLength, ValidateBy, ValidateNested } from 'class-validator';

/** A number ≥ 0 and < 1e12 with at most two decimals (within 1e-6, for binary floats). */
const IsAmount = () =>
  ValidateBy({
    name: 'isAmount',
    validator: {
      validate: (value: unknown) => typeof value === 'number' && value >= 0 && value < 1e12 && Math.abs(value * 100 - Math.round(value * 100)) < 1e-6,
      defaultMessage: () => '$property must be a number ≥ 0 and < 1e12 with at most two decimals',
    },
  });

export class OrderLineDto {
  @IsString() @MinLength(1) sku: string;
  @IsInt() @IsPositive() quantity: number;
}

export class CreateOrderDto {
  @IsString() @MinLength(1) orderId: string;
  @IsString() @MinLength(1) customerId: string;
  @IsArray() @ArrayMinSize(1) @ValidateNested({ each: true }) @Type(() => OrderLineDto) items: OrderLineDto[];
  @IsAmount() amount: number;
}

export class OrderIdDto {
  @IsString() @MinLength(1) orderId: string;
}
