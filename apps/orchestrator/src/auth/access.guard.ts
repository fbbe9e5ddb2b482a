/**
 * The API's access control, applied to every route (a global guard): `Authorization: Bearer
 * <token>` names an actor (access-tokens.ts) whose role the route must allow (roles.ts).
 *
 * Guarantees:
 * - No token, or one the orchestrator does not know: 401 with `WWW-Authenticate: Bearer`; a
 *   known token whose role the route does not allow: 403 naming the roles that may. Routes
 *   marked @Public (the probes), and /metrics with METRICS_PUBLIC=true, need no token.
 * - A route that declares no roles is refused to everybody (closed by default).
 * - Routes marked @RateLimited count against the actor's rate (RATE_LIMIT_STARTS,
 *   RATE_LIMIT_ACTIONS): beyond it, 429 with Retry-After, and nothing is done.
 * - The actor is attached to the request (@CurrentActor()), so what it does is recorded with
 *   its name. With AUTH_DISABLED=true every request acts as the admin "auth-disabled".
 * - Tokens are never logged or echoed.
 */
import {
  createParamDecorator,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../config/orchestrator-config';
import type { Actor } from './access-tokens';
import { RateLimiter, type RateKind } from './rate-limiter';
import { ALLOWED_ROLES, PUBLIC_ROUTE, RATE_KIND, type Role } from './roles';

/** Who every request is when AUTH_DISABLED=true. */
export const UNAUTHENTICATED_ADMIN: Actor = { name: 'auth-disabled', role: 'admin' };

export const METRICS_ROUTE = 'saga:metrics-route';

type ActorRequest = Request & { actor?: Actor };

/** Why a request has no actor, or its actor. */
export function authenticate(config: OrchestratorConfig, authorization: string | undefined): Actor | 'missing' | 'unknown' {
  if (config.accessTokens === null) return UNAUTHENTICATED_ADMIN;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) return 'missing';
  return config.accessTokens.identify(match[1]) ?? 'unknown';
}

export function unauthorized(response: Response, reason: 'missing' | 'unknown'): UnauthorizedException {
  response.setHeader('WWW-Authenticate', reason === 'missing' ? 'Bearer' : 'Bearer error="invalid_token"');
  return new UnauthorizedException({
    statusCode: 401,
    error: 'Unauthorized',
    message: reason === 'missing' ? 'send a bearer token: Authorization: Bearer <token>' : 'the bearer token is not one this orchestrator knows',
  });
}

@Injectable()
export class AccessGuard implements CanActivate {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly reflector: Reflector,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
  ) {
    this.limiter = new RateLimiter(config.rateLimits);
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    if (this.config.metricsPublic && this.reflector.getAllAndOverride<boolean>(METRICS_ROUTE, targets)) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<ActorRequest>();
    const actor = authenticate(this.config, request.headers.authorization);
    if (actor === 'missing' || actor === 'unknown') throw unauthorized(http.getResponse<Response>(), actor);
    const allowed = this.reflector.getAllAndOverride<readonly Role[] | undefined>(ALLOWED_ROLES, targets) ?? [];
    if (!allowed.includes(actor.role)) {
      throw new ForbiddenException({
        statusCode: 403,
        error: 'Forbidden',
        message: allowed.length === 0 ? 'this route is open to no role' : `role "${actor.role}" may not do this; allowed: ${allowed.join(', ')}`,
      });
    }
    const kind = this.reflector.get<RateKind | undefined>(RATE_KIND, context.getHandler());
    const wait = kind === undefined ? undefined : this.limiter.take(actor.name, kind);
    if (wait !== undefined) {
      http.getResponse<Response>().setHeader('Retry-After', String(Math.max(1, Math.ceil(wait))));
      const what = kind === 'start' ? `${this.config.rateLimits.start} starts` : `${this.config.rateLimits.action} operator actions`;
      throw new HttpException({ statusCode: 429, error: 'Too Many Requests', message: `more than ${what} per second for this token; retry later` }, HttpStatus.TOO_MANY_REQUESTS);
    }
    request.actor = actor;
    return true;
  }
}

/** The authenticated actor of the request (set by AccessGuard). */
export const CurrentActor = createParamDecorator((_data: unknown, context: ExecutionContext): Actor => {
  const actor = context.switchToHttp().getRequest<ActorRequest>().actor;
  if (!actor) throw new Error('no actor on the request: is the route guarded?');
  return actor;
});
