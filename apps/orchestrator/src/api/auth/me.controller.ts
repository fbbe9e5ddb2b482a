/**
 * GET /auth/me: who the bearer token is and what its role may do, so a client (the admin UI)
 * shows only the actions the token may take.
 *
 * Guarantees: every valid token of every role may ask (401 without one); the answer is derived
 * from the same role lists the routes declare (auth/roles.ts), so it cannot drift from what the
 * access guard enforces; the token itself is never echoed.
 */
import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import type { Actor } from '../../auth/access-tokens';
import { CurrentActor } from '../../auth/access.guard';
import { Allow, OPERATORS, READERS, ROLES, STARTERS, type Role } from '../../auth/roles';

/** Who may register definition versions (POST /definitions). */
const DEFINITION_ADMINS: readonly Role[] = ['admin'];

export class PermissionsView {
  @ApiProperty({ description: 'Find sagas, counts, health, metrics (GET /sagas …); every role reads one saga by id' }) read: boolean;
  @ApiProperty({ description: 'Start sagas (POST /sagas/{name})' }) start: boolean;
  @ApiProperty({ description: 'Cancel and repair sagas, bulk actions' }) repair: boolean;
  @ApiProperty({ description: 'Read, replay and discard dead letters' }) deadLetters: boolean;
  @ApiProperty({ description: 'Register definition versions (POST /definitions)' }) registerDefinitions: boolean;
}

export class WhoAmIView {
  @ApiProperty({ example: 'olga', description: 'The token name: recorded as who did an action' }) name: string;
  @ApiProperty({ enum: ROLES }) role: string;
  @ApiProperty({ type: PermissionsView }) may: PermissionsView;
}

export function permissionsOf(role: Role): PermissionsView {
  return {
    read: READERS.includes(role),
    start: STARTERS.includes(role),
    repair: OPERATORS.includes(role),
    deadLetters: OPERATORS.includes(role),
    registerDefinitions: DEFINITION_ADMINS.includes(role),
  };
}

@ApiTags('auth')
@Controller('auth')
export class MeController {
  @Get('me')
  @Allow(ROLES)
  @ApiOperation({ summary: 'Who this token is, and what its role may do' })
  @ApiOkResponse({ type: WhoAmIView })
  me(@CurrentActor() actor: Actor): WhoAmIView {
    return { name: actor.name, role: actor.role, may: permissionsOf(actor.role) };
  }
}
