/**
 * A request with a body must say it is JSON: a body sent as text/plain, or with no
 * Content-Type, would otherwise reach the controllers as `{}` (Express parses only JSON), and a
 * saga whose fields are optional would be stored without the data that was sent. Answered 415.
 *
 * Guarantees: requests without a body (no Content-Length above 0 and no Transfer-Encoding) pass;
 * `application/json` and any `+json` type pass; everything else is 415 before any parsing.
 */
import type { NextFunction, Request, Response } from 'express';

export function requireJsonBodies(request: Request, response: Response, next: NextFunction): void {
  const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  if (!hasBody || request.is(['application/json', '+json'])) return next();
  response.status(415).json({
    statusCode: 415,
    error: 'Unsupported Media Type',
    message: `send the body as JSON with Content-Type: application/json (got ${request.headers['content-type'] === undefined ? 'no Content-Type' : JSON.stringify(request.headers['content-type'].slice(0, 100))})`,
  });
}
