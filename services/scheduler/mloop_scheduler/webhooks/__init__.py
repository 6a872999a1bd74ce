"""Per-scenario webhooks: events become signed deliveries, sent and retried by the scheduler.

`domain` (pure: payload, signature, backoff), `adapters` (the deliveries queue in Postgres, the
HTTP sender), `handlers` (enqueue an event, deliver what is due), `entrypoints` (the Kafka
subscriber) and `outbox` (`enqueue_notification` for workflow steps).
"""
