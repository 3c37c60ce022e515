-- Alerts (SPEC 10): rule thresholds, what fired (once per subject, again when the subject's
-- verdict or state changes), and an outbox from which webhooks are delivered at least once by
-- exactly one node. Retention: dropping whole report partitions with the raw bodies, chains,
-- certificates and fragments no remaining report uses.

-- Thresholds per rule, editable through PUT /v1/alerts/rules; the server fills in a default
-- for every key a row lacks, so a row holds only what an operator changed.
CREATE TABLE alert_rules (
    rule        text PRIMARY KEY,
    params      jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The last state an alert fired for, per subject ("group:<id>", "version:<group>|<version>",
-- "spike:<group>", "pinset:<app>|<version>|<hostname>", "health:<node>"). A rule fires when
-- its subject's state differs from this one: the upsert that records the new state is what
-- decides, so two nodes evaluating at once fire once.
CREATE TABLE alert_subjects (
    subject     text PRIMARY KEY,
    rule        text NOT NULL,
    state       text NOT NULL,       -- verdict at firing, or 'spiking'/'clear', 'expiring'...
    alert_id    uuid,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id          uuid PRIMARY KEY,    -- UUIDv7; the webhook body's "id" on every try
    rule        text NOT NULL,
    subject     text NOT NULL,
    state       text NOT NULL,
    fired_at    timestamptz NOT NULL,
    summary     text NOT NULL
);
CREATE INDEX alerts_fired_idx ON alerts (fired_at DESC, id DESC);

-- One delivery per alert. payload is the exact body sent on every try. A node claims due rows
-- with FOR UPDATE SKIP LOCKED and a lease (locked_by, locked_until), posts outside any
-- transaction, then records the outcome; a lease left by a node that died expires.
CREATE TABLE alert_outbox (
    id               uuid PRIMARY KEY REFERENCES alerts (id),
    payload          text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    failed_at        timestamptz,    -- gave up: still failing 24 hours after it was queued
    last_status      integer,        -- HTTP status of the last try (NULL: no answer)
    last_error       text,
    locked_by        text,
    locked_until     timestamptz
);
CREATE INDEX alert_outbox_due_idx ON alert_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

-- Pin expiration per app, hostname and app version (a pin set), for the pins_expiring rule:
-- a rollup like the others, merged from the rollup queue when the flusher empties it (so the
-- commit a request waits for does no more work), keyed by what re-grouping does not change.
CREATE TABLE pin_expiry (
    app_bundle_id  text NOT NULL,
    hostname       text NOT NULL,
    app_version    text NOT NULL DEFAULT '',
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    pins_expire    timestamptz NOT NULL,  -- the latest expiration reported
    reports        bigint NOT NULL,
    PRIMARY KEY (app_bundle_id, hostname, app_version)
);

-- What retention dropped, one row per partition (also logged and counted in /metrics).
CREATE TABLE retention_log (
    ran_at        timestamptz NOT NULL DEFAULT now(),
    partition     text NOT NULL,
    cutoff        timestamptz NOT NULL,
    reports       bigint NOT NULL,
    raw_bodies    bigint NOT NULL,
    chains        bigint NOT NULL,
    certificates  bigint NOT NULL,
    fragments     bigint NOT NULL
);

-- Queued rollup rows leave the queue through a DELETE (pinwatch_rollups_flush): the pin
-- expirations they carry are merged then, once per flush, by pinwatch_pin_expiry_merge. Its
-- body lives in sql/functions/85_alerts.sql (applied after the migrations); the trigger needs
-- the function to exist now, so this placeholder is replaced right after (every function file
-- is applied again after a run that applied a migration).
CREATE OR REPLACE FUNCTION pinwatch_pin_expiry_merge() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN NULL;
END;
$fn$;

CREATE TRIGGER rollup_queue_pin_expiry AFTER DELETE ON rollup_queue
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION pinwatch_pin_expiry_merge();

-- Pin sets already reported are seeded once from the stored reports.
INSERT INTO pin_expiry (app_bundle_id, hostname, app_version, first_seen, last_seen, pins_expire,
                        reports)
SELECT app_bundle_id, hostname, coalesce(app_version, ''), min(received_at), max(received_at),
       max(pins_expire), count(*)
FROM reports WHERE pins_expire IS NOT NULL GROUP BY 1, 2, 3;
