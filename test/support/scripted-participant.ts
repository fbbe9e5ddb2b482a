/**
 * A participant for failure-scenario tests, written with plain amqplib: it answers each
 * command as the saga input's `plan` says, per command name and attempt, so a test can script
 * "retryable twice, then success", "never answers", "always fails" and so on.
 *
 *   plan: { "<command>": ["ok" | "fail" | "retry" | "fatal" | "expired" | "silent", ...] }
 *
 * "retry" is a retryable error with code BUSY; "fatal" a retryable error with code FATAL (which
 * a step can list in its retry policy's nonRetryableCodes).
 *
 * The n-th attempt uses the n-th entry (the last one repeats); a command missing from the plan
 * answers "ok". Every received command is recorded, in arrival order.
 *
 * Guarantees: replies exactly like docs/protocol.md (to replyTo, correlationId only); acks
 * after replying; closes cleanly.
 */
import { readCommand, replyBody, type IncomingCommand, type ReplyOutcome } from '#saga/core';
import { connect, type Channel, type ChannelModel } from 'amqplib';

export type PlannedReply = 'ok' | 'fail' | 'retry' | 'fatal' | 'expired' | 'silent';

export interface Received {
  command: IncomingCommand;
  answered: PlannedReply;
}

export class ScriptedParticipant {
  readonly received: Received[] = [];

  private constructor(
    private readonly connection: ChannelModel,
    private readonly channel: Channel,
  ) {}

  static async start(amqpUrl: string, queue: string): Promise<ScriptedParticipant> {
    const connection = await connect(amqpUrl);
    const channel = await connection.createChannel();
    const participant = new ScriptedParticipant(connection, channel);
    await channel.checkQueue(queue);
    await channel.consume(queue, (message) => {
      if (!message) return;
      const read = readCommand(message.content, message.properties);
      if (!read.ok) throw new Error(`scripted participant got a malformed command: ${read.reason}`);
      const answer = participant.plannedReply(read.command);
      participant.received.push({ command: read.command, answered: answer });
      const outcome = outcomeOf(answer, read.command);
      if (outcome) {
        channel.sendToQueue(read.command.replyTo, Buffer.from(JSON.stringify(replyBody(outcome))), { correlationId: read.command.correlationId });
      }
      channel.ack(message);
    });
    return participant;
  }

  private plannedReply(command: IncomingCommand): PlannedReply {
    const plan = ((command.data as { plan?: Record<string, PlannedReply[]> } | null)?.plan ?? {})[command.pattern];
    if (!plan || plan.length === 0) return 'ok';
    return plan[Math.min(command.attempt, plan.length) - 1];
  }

  /** What this saga received, as "pattern#attempt" strings. */
  log(sagaId: string): string[] {
    return this.received.filter((r) => r.command.sagaId === sagaId).map((r) => `${r.command.pattern}#${r.command.attempt}`);
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}

function outcomeOf(answer: PlannedReply, command: IncomingCommand): ReplyOutcome | undefined {
  switch (answer) {
    case 'ok':
      return { kind: 'success', result: { by: command.pattern, attempt: command.attempt } };
    case 'fail':
      return { kind: 'failure', code: 'NOPE', message: `${command.pattern} refused` };
    case 'retry':
      return { kind: 'retryable', code: 'BUSY', message: `${command.pattern} busy` };
    case 'fatal':
      return { kind: 'retryable', code: 'FATAL', message: `${command.pattern} hit a fault retrying cannot fix` };
    case 'expired':
      return { kind: 'expired', message: `${command.pattern} expired before processing` };
    case 'silent':
      return undefined;
  }
}
