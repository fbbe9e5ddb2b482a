/**
 * `@StorableText()`: a DTO string field that PostgreSQL can store (no NUL character, no
 * unpaired surrogate), so such a value is a 400 naming the field, never a database error.
 */
import { ValidateBy, type ValidationOptions } from 'class-validator';
import { unstorableText } from './json-values';

export function StorableText(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'storableText',
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || unstorableText(value) === undefined,
        defaultMessage: (args) => `$property ${unstorableText(String(args?.value)) ?? 'cannot be stored'}`,
      },
    },
    options,
  );
}
