/**
 * How every error of the HTTP API is answered and logged.
 *
 * Guarantees:
 * - The database being unreachable is 503 with Retry-After: a start that hits it stored nothing
 *   (a saga exists only once committed, and 202 comes after the commit); the client retries.
 * - An HttpException keeps its status and body (field errors included), except what Express
 *   rejected before a route ran (a body that is not JSON, too large, a bad path encoding): that
 *   gets a plain message, never the parser's, which can quote the body. A 4xx is logged as one
 *   short warning line (method, path without the query, status, message, request id).
 * - Anything else is 500 with a body that reveals nothing but the request id, logged at error
 *   level with its stack and the same request id.
 * - Every error body carries `requestId` (also in the X-Request-Id header). No log line holds a
 *   request's body, query values or headers.
 */
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { isDatabaseUnavailable } from '#saga/persistence';
import type { Response } from 'express';
import { logLine } from '../logging/log-line';
import type { RequestWithId } from './hygiene/request-id.middleware';

/** What Express rejected before a route ran, said plainly: a JSON parser's message can quote the body. */
function readable(error: HttpException): Record<string, unknown> | undefined {
  const cause = error.cause;
  if (error.getStatus() === 413) return { statusCode: 413, error: 'Payload Too Large', message: 'the request body is too large' };
  if (cause instanceof SyntaxError) return { statusCode: 400, error: 'Bad Request', message: 'the request body is not valid JSON' };
  if (cause instanceof URIError) return { statusCode: 400, error: 'Bad Request', message: 'the request path is not validly percent-encoded' };
  return undefined;
}

@Catch()
export class ApiErrorsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Api');

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<RequestWithId>();
    const response = http.getResponse<Response>();
    const requestId = request.requestId ?? 'none';
    const where = (status: number) => ({ method: request.method, path: request.path, status, requestId, actor: (request as { actor?: { name: string } }).actor?.name });
    if (isDatabaseUnavailable(error)) {
      this.logger.warn(logLine('the database is unavailable', where(503)));
      response.setHeader('Retry-After', '1');
      response.status(HttpStatus.SERVICE_UNAVAILABLE).json({
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        error: 'Service Unavailable',
        message: 'The database is unavailable; nothing was stored. Retry later.',
        requestId,
      });
      return;
    }
    if (error instanceof HttpException) {
      const status = error.getStatus();
      const body = error.getResponse();
      const payload = readable(error) ?? (typeof body === 'string' ? { statusCode: status, message: body } : (body as Record<string, unknown>));
      if (status >= 500) this.logger.error(logLine('request failed', where(status)), error.stack);
      else this.logger.warn(logLine(String(payload.message ?? error.message).slice(0, 200), where(status)));
      response.status(status).json({ ...payload, requestId });
      return;
    }
    this.logger.error(logLine('request failed', where(500)), error instanceof Error ? error.stack : String(error));
    response.status(HttpStatus.INTERNAL_SERVER_ERROR).json({ statusCode: 500, error: 'Internal Server Error', message: 'Internal server error', requestId });
  }
}
