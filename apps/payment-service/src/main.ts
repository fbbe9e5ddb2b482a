/**
 * payment-service entry point: configuration from the environment (all optional), graceful
 * shutdown on SIGINT/SIGTERM. Exits 1 when it cannot start.
 */
import { bootstrapPaymentService } from './bootstrap';

bootstrapPaymentService()
  .then((app) => app.enableShutdownHooks())
  .catch((error: unknown) => {
    console.error('payment-service failed to start:', error);
    process.exit(1);
  });
