// The shapes of payrail's answers the dashboard reads, taken from the api's own sources (type
// imports only: nothing of the server goes into the bundle), so that a change there fails the
// dashboard's type check instead of its pages.
import type { Static } from 'typebox'
import type { PaymentPage as PaymentPageView } from '../../src/api/payment-reads.ts'
import type {
  ConsumerDeadLetterSchema,
  DlqPage,
  GatewayOverviewT,
  KafkaOverviewT,
  LedgerOverviewT,
  LoadRunT,
  OutboxOverviewT,
  OverviewT,
  RelayDeadLetter as RelayDeadLetterSchema,
} from '../../src/api/routes/operations-schemas.ts'
import type { PaymentView, TimelineEntry as TimelineEntryView } from '../../src/api/views.ts'
import type { AttemptView, DeliveryView } from '../../src/webhooks/delivery-log.ts'
import type { EndpointView } from '../../src/webhooks/endpoints.ts'

export type Payment = PaymentView
export type TimelineEntry = TimelineEntryView
export type PaymentPage = PaymentPageView

export type Overview = OverviewT
export type OutboxOverview = OutboxOverviewT
export type KafkaOverview = KafkaOverviewT
export type GatewayOverview = GatewayOverviewT
export type LedgerOverview = LedgerOverviewT
export type LoadRun = LoadRunT
export type DeadLetters = Static<typeof DlqPage>
export type RelayDeadLetter = Static<typeof RelayDeadLetterSchema>
export type ConsumerDeadLetter = Static<typeof ConsumerDeadLetterSchema>

export type WebhookEndpoint = EndpointView
export type WebhookDelivery = DeliveryView
export type WebhookDeliveryDetail = DeliveryView & { attemptLog: AttemptView[] }
