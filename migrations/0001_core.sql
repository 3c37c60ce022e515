-- Core schema: certificates and chains stored once, reports partitioned by month of receipt,
-- raw bodies kept byte-exact but compact (certificate strings stored once as fragments).

CREATE TABLE certificates (
    sha256       bytea PRIMARY KEY,          -- SHA-256 of the DER
    spki_sha256  bytea NOT NULL,             -- the pin
    der          bytea NOT NULL,
    subject      text NOT NULL,
    issuer       text NOT NULL,
    serial       text,
    not_before   timestamptz,
    not_after    timestamptz,
    sans         text[] NOT NULL DEFAULT '{}',
    key_type     text,
    key_bits     integer,
    is_ca        boolean NOT NULL DEFAULT false,
    sig_alg      text,
    first_seen   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX certificates_spki_idx ON certificates (spki_sha256);

-- A chain's id is the SHA-256 of its certificates' DER concatenated in order.
CREATE TABLE chains (
    sha256       bytea PRIMARY KEY,
    certs        bytea[] NOT NULL,           -- certificate sha256 values, leaf first
    analysis     jsonb,                      -- chain-level findings (SPEC 6.1)
    first_seen   timestamptz NOT NULL DEFAULT now()
);

-- Exact bytes of JSON string literals that carried certificates, stored once.
CREATE TABLE raw_fragments (
    sha256       bytea PRIMARY KEY,
    bytes        bytea NOT NULL
);

-- One row per distinct request body: the body with certificate literals replaced by fragment
-- references (rebuilt byte-exact on read). Reports of one request share it.
CREATE TABLE raw_bodies (
    sha256       bytea PRIMARY KEY,          -- SHA-256 of the exact body
    received_at  timestamptz NOT NULL,
    length       integer NOT NULL,
    template     bytea NOT NULL
);

CREATE TABLE reports (
    id                  uuid NOT NULL,       -- UUIDv7, assigned before anything is written
    received_at         timestamptz NOT NULL,
    format              text NOT NULL,
    hostname            text NOT NULL,
    hostname_raw        text NOT NULL,
    noted_hostname      text,
    noted_hostname_raw  text,
    port                integer,
    include_subdomains  boolean,
    enforce_pinning     boolean,
    validation_result   bigint,
    client_time         timestamptz,
    client_time_raw     text,
    pins_expire         timestamptz,
    pins_expire_raw     text,
    known_pins          bytea[] NOT NULL DEFAULT '{}',
    known_pins_raw      text[],
    served_chain        bytea,               -- chains.sha256
    validated_chain     bytea,
    app_bundle_id       text NOT NULL,
    app_version         text,
    platform            text,
    platform_version    text,
    vendor_id           text,
    sdk                 text,
    sdk_version         text,
    network             cidr,
    client_ip           inet,                -- only with PINWATCH_STORE_CLIENT_IP=1
    asn                 bigint,
    as_org              text,
    country             text,
    user_agent          text,
    group_id            text,
    findings            jsonb,               -- per-report findings (SPEC 6.1)
    problems            jsonb,
    extra               jsonb,               -- format-specific fields
    raw_sha256          bytea NOT NULL,      -- raw_bodies.sha256
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);

CREATE INDEX reports_received_idx ON reports (received_at);
CREATE INDEX reports_host_idx ON reports (hostname, received_at);
CREATE INDEX reports_app_idx ON reports (app_bundle_id, received_at);
CREATE INDEX reports_group_idx ON reports (group_id, received_at);

-- Monthly partitions are created on demand by the writer (and at start-up), so retention is
-- a partition drop.
CREATE FUNCTION pinwatch_ensure_partition(ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo date := date_trunc('month', ts AT TIME ZONE 'UTC')::date;
    hi date := (date_trunc('month', ts AT TIME ZONE 'UTC') + interval '1 month')::date;
    name text := format('reports_%s', to_char(lo, 'YYYY_MM'));
BEGIN
    IF to_regclass(name) IS NULL THEN
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF reports FOR VALUES FROM (%L) TO (%L)',
                name, lo::timestamp AT TIME ZONE 'UTC', hi::timestamp AT TIME ZONE 'UTC');
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL;  -- another node created it first
        END;
    END IF;
    RETURN name;
END;
$$;

SELECT pinwatch_ensure_partition(now());
SELECT pinwatch_ensure_partition(now() + interval '1 month');

CREATE TABLE expected_keys (
    pattern      text NOT NULL,
    pin          bytea NOT NULL,
    label        text NOT NULL CHECK (label IN ('current', 'backup', 'ca', 'cdn')),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pattern, pin)
);
