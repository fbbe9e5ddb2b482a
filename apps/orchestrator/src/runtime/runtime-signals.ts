/**
 * In-process wake-up signals between the parts of the runtime, so the happy path never waits
 * for a polling interval: a commit that set a timer tells the scheduler when it is due, and a
 * saga reaching a terminal status wakes the HTTP requests waiting on it (GET /sagas/{id}?waitMs=N).
 *
 * Guarantees: signals are hints only; every consumer also polls, so a lost signal (or another
 * replica's commit) only costs latency, never correctness.
 */
import { Injectable } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import type { SagaStatus } from '#saga/core';

@Injectable()
export class RuntimeSignals {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  timerSet(fireAt: number): void {
    this.emitter.emit('timer', fireAt);
  }

  onTimerSet(listener: (fireAt: number) => void): () => void {
    this.emitter.on('timer', listener);
    return () => this.emitter.off('timer', listener);
  }

  sagaChanged(sagaId: string, status: SagaStatus): void {
    this.emitter.emit(`saga:${sagaId}`, status);
  }

  onSagaChanged(sagaId: string, listener: (status: SagaStatus) => void): () => void {
    this.emitter.on(`saga:${sagaId}`, listener);
    return () => this.emitter.off(`saga:${sagaId}`, listener);
  }
}
