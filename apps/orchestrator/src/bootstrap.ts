/**
 * Creates and starts the orchestrator HTTP application (used by main.ts, the start-all script
 * and the e2e tests).
 *
 * Guarantees: input errors become HTTP 400 with a list of { field, message }; an unreachable
 * database becomes 503 (never a 202 for a saga that was not stored); every route is behind the
 * access guard (auth/access.guard.ts); OpenAPI is served at /docs (JSON at /docs-json), without
 * a token unless DOCS_PUBLIC=false; the returned app is listening when the promise resolves.
 */
import { type INestApplication, Logger, type LoggerService, type LogLevel, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ValidationError } from 'class-validator';
import type { NextFunction, Request, Response } from 'express';
import { ApiErrorsFilter } from './api/api-errors.filter';
import { badRequest } from './api/bad-request';
import { requireJsonBodies } from './api/hygiene/json-body.middleware';
import { assignRequestId } from './api/hygiene/request-id.middleware';
import { authenticate, unauthorized } from './auth/access.guard';
import { serveOpenApi } from './api/openapi';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from './config/orchestrator-config';
import { OrchestratorModule } from './orchestrator.module';

function fieldErrors(errors: ValidationError[], parent = ''): { field: string; message: string }[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...fieldErrors(error.children ?? [], field)];
  });
}

/** With DOCS_PUBLIC=false, the OpenAPI UI and document need a token of any role. */
function docsNeedAToken(config: OrchestratorConfig) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const actor = authenticate(config, request.headers.authorization);
    if (actor !== 'missing' && actor !== 'unknown') return next();
    const error = unauthorized(response, actor);
    response.status(401).json(error.getResponse());
  };
}

export interface OrchestratorOptions {
  env?: Record<string, string | undefined>;
  logger?: LoggerService | LogLevel[] | false;
  shutdownHooks?: boolean;
}

export async function startOrchestrator(options: OrchestratorOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(OrchestratorModule.forRoot(options.env ?? {}), {
    logger: options.logger === undefined ? undefined : options.logger,
    abortOnError: false,
    bodyParser: false, // JSON only, with the configured limit (below)
  });
  if (options.shutdownHooks) app.enableShutdownHooks();
  app.useGlobalPipes(
    new ValidationPipe({
      transform: true,
      whitelist: true,
      forbidNonWhitelisted: true,
      exceptionFactory: (errors) => badRequest('Request validation failed', fieldErrors(errors)),
    }),
  );
  const config = app.get<OrchestratorConfig>(ORCHESTRATOR_CONFIG);
  app.use(assignRequestId);
  app.use(requireJsonBodies);
  app.useBodyParser('json', { limit: config.maxBodyBytes, type: ['application/json', 'application/*+json'] });
  app.useGlobalFilters(new ApiErrorsFilter());
  if (!config.docsPublic) app.use(['/docs', '/docs-json'], docsNeedAToken(config));
  serveOpenApi(app);
  if (config.accessTokens === null) new Logger('AccessControl').warn('AUTH_DISABLED=true: the API needs no token and every caller acts as an admin');
  await app.listen(config.port);
  return app;
}
