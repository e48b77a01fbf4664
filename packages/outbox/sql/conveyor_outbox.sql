-- Generated from createTableSql('conveyor_outbox'); keep in sync (a unit test checks).
CREATE TABLE IF NOT EXISTS "conveyor_outbox" (
  id           bigserial   PRIMARY KEY,
  kind         text        NOT NULL CHECK (kind IN ('task', 'event')),
  name         text        NOT NULL,
  queue        text,
  payload      jsonb       NOT NULL,
  options      jsonb       NOT NULL DEFAULT '{}',
  trace        jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  available_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  attempts     integer     NOT NULL DEFAULT 0,
  last_error   text
);
-- The relay's claim: unpublished rows in id order.
CREATE INDEX IF NOT EXISTS "conveyor_outbox_pending_idx" ON "conveyor_outbox" (id) WHERE published_at IS NULL;
-- Retention: published rows by age.
CREATE INDEX IF NOT EXISTS "conveyor_outbox_published_idx" ON "conveyor_outbox" (published_at) WHERE published_at IS NOT NULL;
-- Failing and set-aside rows, newest first (OutboxRelay.failedRows(), the dashboard).
CREATE INDEX IF NOT EXISTS "conveyor_outbox_failing_idx" ON "conveyor_outbox" (id) WHERE published_at IS NULL AND attempts > 0;
