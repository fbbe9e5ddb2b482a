/**
 * Query parameters of the definition endpoints, validated with class-validator (400 with the
 * field errors when wrong). A posted definition itself is checked by validateDefinition.
 */
import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';

export class DiffQuery {
  @ApiProperty({ description: 'The older version', example: 1, minimum: 1 })
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  from: number;

  @ApiProperty({ description: 'The newer version', example: 2, minimum: 1 })
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  to: number;
}
