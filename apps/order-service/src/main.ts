/**
 * order-service entry point: configuration from the environment (all optional), graceful
 * shutdown on SIGINT/SIGTERM. Exits 1 when it cannot start.
 */
import { bootstrapOrderService } from './bootstrap';

bootstrapOrderService()
  .then((app) => app.enableShutdownHooks())
  .catch((error: unknown) => {
    console.error('order-service failed to start:', error);
    process.exit(1);
  });
