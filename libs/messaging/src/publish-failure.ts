/**
 * A publish the broker did not take: no connection at that moment, the channel closed before the
 * confirm, or the broker nacked it (e.g. a quorum queue with no leader while a cluster node is
 * down and its replicas elect a new one).
 *
 * Guarantees: AmqpClient.publish rejects with a PublishFailedError for every such case (the
 * underlying error is its `cause`), so a caller can tell "the broker was not ready, try again"
 * from a fault of the message itself: isPublishFailure is the test consumers use in
 * `isTransient`, so a reply that cannot be published now never counts towards poison.
 */
export class PublishFailedError extends Error {
  readonly code = 'AMQP_PUBLISH_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PublishFailedError';
  }
}

export function isPublishFailure(error: unknown): error is PublishFailedError {
  return error instanceof PublishFailedError;
}
