/**
 * inventory-service payloads as class-validator DTOs (checked by SagaValidationPipe before a
 * method runs; data that fails is answered INVALID_COMMAND and copied to the dead-letter queue).
 *
 * Guarantees: a reservation id is a non-empty string; a reservation has at least one item, each
 * a non-empty sku and an integer quantity from 1 to 1e9 (a sku may repeat: the quantities are
 * summed). Unknown keys are dropped.
 */
import { Type } from 'class-transformer';
import { ArrayMinSize, IsArray, IsInt, IsPositive, IsString, Max, MinLength, ValidateNested } from 'class-validator';

export class ReserveItemDto {
  @IsString() @MinLength(1) sku: string;
  @IsInt() @IsPositive() @Max(1_000_000_000) quantity: number;
}

export class ReserveDto {
  @IsString() @MinLength(1) reservationId: string;
  @IsArray() @ArrayMinSize(1) @ValidateNested({ each: true }) @Type(() => ReserveItemDto) items: ReserveItemDto[];
}

/** What inventory.release reads from the stored result of the reservation it undoes. */
export class ReservationIdDto {
  @IsString() reservationId: string;
}
