/**
 * GET /metrics in the Prometheus text format (saga counters, stuck sagas, outbox backlog,
 * event handling latency, Node process metrics). A token of a reading role is needed unless
 * METRICS_PUBLIC=true (for a scraper inside a trusted network).
 */
import { Controller, Get, Header, SetMetadata } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { METRICS_ROUTE } from '../../auth/access.guard';
import { Allow, READERS } from '../../auth/roles';
import { SagaMetrics } from '../../runtime/saga-metrics';

@ApiTags('health')
@Allow(READERS)
@SetMetadata(METRICS_ROUTE, true) // open without a token when METRICS_PUBLIC=true
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: SagaMetrics) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics', description: 'Alert on saga_stuck > 0 (sagas waiting for an operator) and on a growing saga_outbox_backlog.' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format', schema: { type: 'string' } })
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
