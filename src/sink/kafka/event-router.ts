/**
 * Turns encoded events into records to produce: the topic of their table (created when missing) and
 * the partition of `destination.partitionPolicy` (see topic-router.ts).
 */
import type { MessageToProduce } from '@platformatic/kafka';
import type { KafkaDestinationConfig } from '../../core/kafka-destination-config.ts';
import type { EventRecord, EventTable } from './change-event.ts';
import type { TopicCatalog } from './kafka-client.ts';
import { partitionOf, topicOf, type TopicNames } from './topic-router.ts';

/** A table's topic, as {@link EventRouter.topicOf} found it. */
export interface RoutedTopic {
  readonly topic: string;
  readonly names: TopicNames;
  readonly partitions: number;
}

/** Routes the records of one sink. */
export class EventRouter {
  private readonly topics = new WeakMap<EventTable, RoutedTopic>();

  constructor(
    private readonly d: KafkaDestinationConfig,
    private readonly catalog: TopicCatalog,
    /** `#{source_db_name}`. */
    private readonly db: string,
  ) {}

  /**
   * The topic of `table` and its partition count, the topic created when missing.
   * @throws {PgdtsError} from topic creation (DESTINATION_UNSUPPORTED, CONNECTION_FAILED...).
   */
  async topicOf(table: EventTable): Promise<RoutedTopic> {
    const known = this.topics.get(table);
    if (known !== undefined) return known;
    const names = { db: this.db, schema: table.schema, table: table.name };
    const topic = topicOf(this.d.topic, names);
    const t = { topic, names, partitions: await this.catalog.ensure(topic) };
    this.topics.set(table, t);
    return t;
  }

  /** The topic of `table` if {@link topicOf} found it already. */
  known(table: EventTable): RoutedTopic | undefined {
    return this.topics.get(table);
  }

  /** Creates `topic` when missing (the transaction metadata topic). */
  async ensureTopic(topic: string): Promise<void> {
    await this.catalog.ensure(topic);
  }

  /** The records of `events` about `table`, with topic and partition. */
  async route(table: EventTable, events: readonly EventRecord[]): Promise<MessageToProduce[]> {
    const t = await this.topicOf(table);
    const out: MessageToProduce[] = [];
    this.append(t, events, out);
    return out;
  }

  /**
   * Appends the records of `events` on topic `t` (from {@link topicOf}) to `out`, with their
   * partitions: the per-row path of full sync, which finds the topic once per unit.
   */
  append(t: RoutedTopic, events: readonly EventRecord[], out: MessageToProduce[]): void {
    for (const e of events) {
      const partition = partitionOf(this.d.partitionPolicy, t.partitions, t.names, e.key);
      // No `key`/`value` property for a missing one (a keyless record, a tombstone).
      const m: MessageToProduce =
        e.key === undefined
          ? e.value === undefined
            ? { topic: t.topic, partition }
            : { topic: t.topic, partition, value: e.value }
          : e.value === undefined
            ? { topic: t.topic, partition, key: e.key }
            : { topic: t.topic, partition, key: e.key, value: e.value };
      out.push(m);
    }
  }
}
