/**
 * Maps "database unreachable" errors from any endpoint to HTTP 503 with a clear message, so a
 * client retries instead of treating the request as failed for good. A start that hits this
 * stored nothing: the saga is created only by a committed transaction, and 202 comes after it.
 * Every other error goes to Nest's default handling unchanged.
 */
import { type ArgumentsHost, Catch, HttpStatus, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { isDatabaseUnavailable } from '#saga/persistence';
import type { Response } from 'express';

@Catch()
export class DatabaseUnavailableFilter extends BaseExceptionFilter {
  private readonly logger = new Logger('Api');

  override catch(error: unknown, host: ArgumentsHost): void {
    if (!isDatabaseUnavailable(error)) return super.catch(error, host);
    this.logger.warn(`Database unavailable: ${(error as Error).message}`);
    const response = host.switchToHttp().getResponse<Response>();
    response.setHeader('Retry-After', '1');
    response.status(HttpStatus.SERVICE_UNAVAILABLE).json({
      statusCode: HttpStatus.SERVICE_UNAVAILABLE,
      error: 'Service Unavailable',
      message: 'The database is unavailable; nothing was stored. Retry later.',
    });
  }
}
