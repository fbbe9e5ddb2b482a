/**
 * Health, for probes and for people. `/health/live` (no token) answers 200 while the process
 * serves HTTP: a dependency's outage never makes it "dead" (a restart would not help).
 * `/health/ready` (no token) answers 200 when PostgreSQL answers and RabbitMQ is connected, else
 * 503: take the replica out of the load balancer, do not kill it. Neither reveals saga data.
 * `/health` (a reading role) adds what a person on call needs first: the outbox backlog, the
 * number of sagas stuck in COMPENSATION_FAILED, and the unfinished sagas pinned to a definition
 * version this replica has not loaded (definitionsMissing). A missing version is not an outage:
 * it never makes a probe fail, the other sagas run on. Also the dead letters waiting for an operator.
 */
import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { Allow, Public, READERS } from '../../auth/roles';
import { StoredDefinitions } from '../../definitions/stored-definitions';
import { BrokerService } from '../../runtime/broker.service';

class MissingDefinitionView {
  @ApiProperty({ example: 'place-order' }) name: string;
  @ApiProperty({ example: 3 }) version: number;
  @ApiProperty({ description: 'Sagas RUNNING or COMPENSATING on that version' }) sagas: number;
}

class ReadinessView {
  @ApiProperty({ enum: ['ok', 'degraded'] }) status: string;
  @ApiProperty() database: boolean;
  @ApiProperty() broker: boolean;
}

class HealthView {
  @ApiProperty({ enum: ['ok', 'degraded'] }) status: string;
  @ApiProperty() database: boolean;
  @ApiProperty() broker: boolean;
  @ApiProperty({ description: 'Commands committed but not yet published' }) outboxBacklog: number;
  @ApiProperty({ description: 'Sagas waiting for an operator' }) compensationFailed: number;
  @ApiProperty({
    type: [MissingDefinitionView],
    description: 'Unfinished sagas pinned to a definition version this replica has not loaded: their replies are parked and timers postponed until the version is registered',
  })
  definitionsMissing: MissingDefinitionView[];
  @ApiProperty({ description: 'Dead letters waiting for an operator (GET /dead-letters?state=parked)' }) deadLettersParked: number;
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly broker: BrokerService,
    private readonly definitions: StoredDefinitions,
  ) {}

  @Get('live')
  @Public()
  @ApiOperation({ summary: 'Liveness: the process serves HTTP (no token needed)' })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', example: 'ok' } } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  @ApiOperation({ summary: 'Readiness: PostgreSQL answers and RabbitMQ is connected (no token needed)' })
  @ApiOkResponse({ type: ReadinessView })
  @ApiServiceUnavailableResponse({ type: ReadinessView })
  async ready(): Promise<ReadinessView> {
    const database = await this.dataSource.query('SELECT 1').then(
      () => true,
      () => false,
    );
    const broker = this.broker.client.connected;
    const view = { status: database && broker ? 'ok' : 'degraded', database, broker };
    if (view.status !== 'ok') throw new ServiceUnavailableException(view);
    return view;
  }

  @Get()
  @Allow(READERS)
  @ApiOperation({ summary: 'Health of the orchestrator and its dependencies, with the outbox backlog, stuck sagas and sagas whose definition version is missing' })
  @ApiOkResponse({ type: HealthView })
  @ApiServiceUnavailableResponse({ type: HealthView })
  async health(): Promise<HealthView> {
    let database = true;
    let outboxBacklog = -1;
    let compensationFailed = -1;
    let definitionsMissing: MissingDefinitionView[] = [];
    let deadLettersParked = -1;
    try {
      const [row] = await this.dataSource.query(
        `SELECT (SELECT count(*) FROM saga_outbox)::int AS outbox, (SELECT count(*) FROM saga_instances WHERE status = 'COMPENSATION_FAILED')::int AS stuck,
                (SELECT count(*) FROM dead_letters WHERE state = 'parked')::int AS parked`,
      );
      outboxBacklog = row.outbox;
      compensationFailed = row.stuck;
      definitionsMissing = await this.definitions.missing();
      deadLettersParked = row.parked;
    } catch {
      database = false;
    }
    const broker = this.broker.client.connected;
    const view = { status: database && broker ? 'ok' : 'degraded', database, broker, outboxBacklog, compensationFailed, deadLettersParked, definitionsMissing };
    if (view.status !== 'ok') throw new ServiceUnavailableException(view);
    return view;
  }
}
