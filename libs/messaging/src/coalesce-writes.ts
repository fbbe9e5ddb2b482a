/**
 * Fewer syscalls for AMQP writes.
 *
 * Guarantees: only when frames leave changes (several in one writev), never their bytes or
 * order; on an amqplib without the expected internals nothing is patched and a warning says so.
 */
import type { ChannelModel } from 'amqplib';
import type { AmqpLogger } from './consumer-delivery';

/**
 * amqplib's multiplexer writes every queued frame to the socket with its own write() (one
 * syscall each: a burst of 20 publishes or acks costs 20). Corking the socket around one drain
 * of the multiplexer sends everything queued in that drain with a single writev. Only the
 * timing of syscalls changes, never the bytes or their order. Skipped (with a warning) if an
 * amqplib upgrade no longer has these internals.
 */
export function coalesceWrites(connection: ChannelModel, logger: Pick<AmqpLogger, 'warn'>): void {
  const raw = (connection as unknown as { connection?: { muxer?: { _readIncoming?: () => void }; stream?: { cork?: () => void; uncork?: () => void } } }).connection;
  const muxer = raw?.muxer;
  const stream = raw?.stream;
  const drain = muxer?._readIncoming;
  if (!muxer || typeof drain !== 'function' || typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') {
    logger.warn('amqplib internals changed: frames are written one syscall each');
    return;
  }
  muxer._readIncoming = function corkedDrain(this: unknown) {
    stream.cork!();
    try {
      drain.call(this);
    } finally {
      stream.uncork!();
    }
  };
}
