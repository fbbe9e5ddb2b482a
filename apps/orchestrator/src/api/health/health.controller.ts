/**
 * Liveness/readiness: reports whether PostgreSQL answers and RabbitMQ is connected, plus the
 * size of the outbox backlog and the number of sagas stuck in COMPENSATION_FAILED (things a
 * person on call needs to see first).
 */
import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { BrokerService } from '../../runtime/broker.service';

class HealthView {
  @ApiProperty({ enum: ['ok', 'degraded'] }) status: string;
  @ApiProperty() database: boolean;
  @ApiProperty() broker: boolean;
  @ApiProperty({ description: 'Commands committed but not yet published' }) outboxBacklog: number;
  @ApiProperty({ description: 'Sagas waiting for an operator' }) compensationFailed: number;
}

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly broker: BrokerService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Health of the orchestrator and its dependencies' })
  @ApiOkResponse({ type: HealthView })
  @ApiServiceUnavailableResponse({ type: HealthView })
  async health(): Promise<HealthView> {
    let database = true;
    let outboxBacklog = -1;
    let compensationFailed = -1;
    try {
      const [row] = await this.dataSource.query(
        `SELECT (SELECT count(*) FROM saga_outbox)::int AS outbox, (SELECT count(*) FROM saga_instances WHERE status = 'COMPENSATION_FAILED')::int AS stuck`,
      );
      outboxBacklog = row.outbox;
      compensationFailed = row.stuck;
    } catch {
      database = false;
    }
    const broker = this.broker.client.connected;
    const view = { status: database && broker ? 'ok' : 'degraded', database, broker, outboxBacklog, compensationFailed };
    if (view.status !== 'ok') throw new ServiceUnavailableException(view);
    return view;
  }
}
