/**
 * The API's one shape of a 400: `{ statusCode, error, message, errors: [{ field, message }] }`,
 * whichever check refused the request (DTO validation, a header, the saga's input schema).
 */
import { BadRequestException } from '@nestjs/common';

export function badRequest(message: string, errors: readonly { field: string; message: string }[]): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message, errors });
}
