/**
 * Every request gets an id: the caller's `X-Request-Id` when it is a short token
 * ([A-Za-z0-9._-], up to 64 characters), else a new UUID. It is sent back in `X-Request-Id` and
 * in every error body, and it is in the log line of every 4xx and 5xx, so a caller's report and
 * the log meet.
 */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const ACCEPTABLE = /^[A-Za-z0-9._-]{1,64}$/;

export type RequestWithId = Request & { requestId?: string };

export function assignRequestId(request: RequestWithId, response: Response, next: NextFunction): void {
  const given = request.headers['x-request-id'];
  request.requestId = typeof given === 'string' && ACCEPTABLE.test(given) ? given : randomUUID();
  response.setHeader('X-Request-Id', request.requestId);
  next();
}
