/**
 * The idempotent producer of a Kafka destination's events sent outside transactions (full sync read
 * events, at-least-once change events), one produce request at a time.
 *
 * Why one at a time: @platformatic/kafka 1.35 reads a partition's next sequence number when it
 * builds a produce request and advances it only when the response arrives, so two requests in flight
 * for one partition carry the same base sequence and the broker refuses the second with
 * OUT_OF_ORDER_SEQUENCE_NUMBER (Kafka protocol, "Error Codes"; KIP-98 idempotent producer). Seen
 * with full sync copying ranges of one table in parallel into a one-partition topic: every later
 * request failed the same way. Serialising keeps each partition's sequence in step, and the order of
 * the requests is the order of the calls (per-key order, as the change applier needs).
 *
 * After a sequence error the producer is closed and the next send opens a new one: a new producer
 * id starts its sequences at 0, so a retry of the same events can succeed (at-least-once: an
 * event the broker had written may be written again).
 */
import type { MessageToProduce, Producer } from '@platformatic/kafka';
import { isSequenceError, produceChunks } from './kafka-client.ts';

/** Sends through one idempotent producer, a request at a time (see the file comment). */
export class IdempotentSender {
  private producer: Producer | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  /** @param open makes the producer (`idempotent: true`, `acks: -1`); called again after a sequence error. */
  constructor(private readonly open: () => Producer) {}

  /**
   * Sends `messages` in order (cut by produceChunks into requests), after every send called before
   * it, and resolves once the broker acknowledged all of them (`acks=all`).
   * @throws the client's error (callers translate it with kafkaError); the sends after it still run.
   */
  send(messages: readonly MessageToProduce[]): Promise<void> {
    const run = this.tail.then(() => this.sendNow(messages));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async sendNow(messages: readonly MessageToProduce[]): Promise<void> {
    if (messages.length === 0) return;
    const producer = (this.producer ??= this.open());
    try {
      for (const chunk of produceChunks(messages)) await producer.send({ messages: chunk, acks: -1 });
    } catch (e) {
      if (isSequenceError(e) && this.producer === producer) {
        this.producer = undefined;
        await producer.close().catch(() => undefined);
      }
      throw e;
    }
  }

  /** Closes the producer once the sends called so far ended. */
  async close(): Promise<void> {
    await this.tail;
    const p = this.producer;
    this.producer = undefined;
    await p?.close().catch(() => undefined);
  }
}
