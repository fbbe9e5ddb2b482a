/**
 * Roles and what each may do. `viewer` reads everything; `client` starts sagas and reads a saga
 * by id (its own integration, not the fleet); `operator` reads, cancels and repairs; `admin` may
 * do all of that and manage definitions. Every route declares the roles it allows with @Allow
 * (or @Public for the health probes): a route with neither is refused (403) to everybody, so
 * a new endpoint is closed until someone opens it.
 */
import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { RateKind } from './rate-limiter';

export const ROLES = ['viewer', 'client', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who may read sagas in bulk, definitions, health details and metrics. */
export const READERS: readonly Role[] = ['viewer', 'operator', 'admin'];
/** Who may start sagas. */
export const STARTERS: readonly Role[] = ['client', 'operator', 'admin'];
/** Who may read one saga by id. */
export const SAGA_READERS: readonly Role[] = ['viewer', 'client', 'operator', 'admin'];
/** Who may change sagas by hand (cancel, repairs). */
export const OPERATORS: readonly Role[] = ['operator', 'admin'];

export const ALLOWED_ROLES = 'saga:allowed-roles';
export const RATE_KIND = 'saga:rate-kind';
export const PUBLIC_ROUTE = 'saga:public-route';

/** The roles that may call this route (401 without a valid token, 403 with another role). */
export function Allow(roles: readonly Role[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    SetMetadata(ALLOWED_ROLES, roles),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'No token, or a token this orchestrator does not know (WWW-Authenticate: Bearer)' }),
    ApiForbiddenResponse({ description: `The token's role may not call this. Allowed roles: ${roles.join(', ')}` }),
  );
}

/** A route whose calls count against the token's rate of this kind (429 beyond; rate-limiter.ts). */
export function RateLimited(kind: RateKind): MethodDecorator {
  return applyDecorators(
    SetMetadata(RATE_KIND, kind),
    ApiTooManyRequestsResponse({
      description: `More ${kind === 'start' ? 'starts' : 'operator actions'} per second than this token may make (RATE_LIMIT_${kind === 'start' ? 'STARTS' : 'ACTIONS'}); Retry-After says when to try again`,
    }),
  );
}

/** A route open without a token (liveness and readiness probes). */
export function Public(): MethodDecorator & ClassDecorator {
  return SetMetadata(PUBLIC_ROUTE, true);
}
