// The key-ordered parallel Kafka consumer that payrail's workers run on (see keyed-consumer.ts).
export { DEAD_LETTER_HEADERS } from '../../kafka/producer.ts'
export {
  type DeadLetter,
  type DeadLetterSink,
  deadLetterHeaders,
  KafkaDeadLetterSink,
  type KafkaDeadLetterSinkOptions,
} from './dead-letter.ts'
export { defaultIsOutage } from './failure-policy.ts'
export { type ConsumerStatus, KeyedConsumer } from './keyed-consumer.ts'
export { createConsumerMetrics } from './metrics.ts'
export { type CallResult, type ConsumerObserver, noopObserver, type RetryReason } from './observer.ts'
export {
  consumerOptionsFromConfig,
  type KeyedConsumerOptions,
  type RecordHandler,
  type ResolvedConsumerOptions,
  resolveConsumerOptions,
} from './options.ts'
export type { ConsumedRecord } from './record.ts'
