/**
 * payment-service payloads as class-validator DTOs (checked by SagaValidationPipe before a
 * method runs; data that fails is answered INVALID_COMMAND and copied to the dead-letter queue).
 *
 * Guarantees: ids are non-empty strings; the amount is a number > 0, below 1e12, with at most
 * two decimals (what numeric(14, 2) stores exactly). Unknown keys are dropped.
 */
import { IsString, MinLength, ValidateBy } from 'class-validator';

/** A number > 0 and < 1e12 with at most two decimals (within 1e-6, for binary floats). */
const IsAmount = () =>
  ValidateBy({
    name: 'isAmount',
    validator: {
      validate: (value: unknown) => typeof value === 'number' && value > 0 && value < 1e12 && Math.abs(value * 100 - Math.round(value * 100)) < 1e-6,
      defaultMessage: () => '$property must be a number > 0 and < 1e12 with at most two decimals',
    },
  });

export class ChargeDto {
  @IsString() @MinLength(1) paymentId: string;
  @IsString() @MinLength(1) customerId: string;
  @IsAmount() amount: number;
}

/** What payment.refund reads from the stored result of the charge it undoes. */
export class PaymentIdDto {
  @IsString() paymentId: string;
}
