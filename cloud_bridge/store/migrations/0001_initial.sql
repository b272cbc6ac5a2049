-- The bridge's tables on PostgreSQL. Times are integer nanoseconds since the Unix epoch (UTC),
-- as on the wire. received_time_ns is the bridge's own clock (a device's may be wrong), so it
-- partitions the history: one partition per UTC day, created ahead by the store.

-- Exactly-once: every key stored, whatever partition its message went to. A unique key on a
-- partitioned table must include the partition key, which a redelivery would not share, hence
-- this table of its own. Retention deletes keys with their partitions.
CREATE TABLE message_keys (
    device_id text NOT NULL,
    boot_id text NOT NULL,
    sequence bigint NOT NULL,
    received_time_ns bigint NOT NULL,
    PRIMARY KEY (device_id, boot_id, sequence)
);
CREATE INDEX message_keys_received ON message_keys (received_time_ns);

-- Every stored message, all streams: the raw payload (nothing is lost) and its body as JSON.
CREATE TABLE messages (
    device_id text NOT NULL,
    boot_id text NOT NULL,
    sequence bigint NOT NULL,
    stream text NOT NULL,
    region text NOT NULL,
    topic text NOT NULL,
    capture_time_ns bigint NOT NULL,
    publish_time_ns bigint NOT NULL,
    received_time_ns bigint NOT NULL,
    historical boolean NOT NULL,
    clock_suspect boolean NOT NULL,
    latitude_deg double precision,
    longitude_deg double precision,
    payload bytea NOT NULL,
    body jsonb NOT NULL
) PARTITION BY RANGE (received_time_ns);
CREATE INDEX messages_key ON messages (device_id, boot_id, sequence);
CREATE INDEX messages_device_time ON messages (device_id, capture_time_ns);
CREATE INDEX messages_region_time ON messages (region, stream, capture_time_ns);
-- Bounding boxes without PostGIS: point(lon, lat) <@ box(point(w, s), point(e, n)).
CREATE INDEX messages_position ON messages USING gist (point(longitude_deg, latitude_deg))
    WHERE latitude_deg IS NOT NULL;

-- The device registry: first and last seen (bridge clock), software version from its status.
CREATE TABLE devices (
    device_id text PRIMARY KEY,
    region text NOT NULL,
    first_seen_ns bigint NOT NULL,
    last_seen_ns bigint NOT NULL,
    role text,
    software_version text
);
CREATE INDEX devices_region ON devices (region);

-- Per device and boot: the stored sequence range and counts, for loss accounting. Its id ranks
-- a device's boots in the order they were first seen.
CREATE TABLE boot_sequences (
    id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    device_id text NOT NULL,
    boot_id text NOT NULL,
    first_sequence bigint,
    last_sequence bigint,
    delivered bigint NOT NULL DEFAULT 0,
    duplicates bigint NOT NULL DEFAULT 0,
    first_received_ns bigint NOT NULL,
    last_received_ns bigint NOT NULL,
    PRIMARY KEY (device_id, boot_id)
);

-- Loss per device and boot: missing within a boot's range, and between the previous boot's last
-- sequence and this boot's first (an outbox numbers messages across restarts).
CREATE VIEW loss_accounting AS
SELECT device_id, boot_id, first_sequence, last_sequence, delivered, duplicates,
    GREATEST(COALESCE(last_sequence::numeric - first_sequence + 1 - delivered, 0), 0)
        AS missing,
    CASE WHEN first_sequence > previous_last + 1
        THEN first_sequence::numeric - previous_last - 1 ELSE 0 END AS missing_before
FROM (
    SELECT *, MAX(last_sequence) OVER (
        PARTITION BY device_id ORDER BY first_sequence NULLS LAST, boot_id
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS previous_last
    FROM boot_sequences
) AS ranked;

-- The latest status of each device: ordered by boot and sequence, never by time. Boots rank in
-- the order their first status arrived (status_boots.id), as in the SQLite store.
CREATE TABLE status_boots (
    id bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    device_id text NOT NULL,
    boot_id text NOT NULL,
    PRIMARY KEY (device_id, boot_id)
);
CREATE TABLE device_status (
    device_id text PRIMARY KEY,
    region text NOT NULL,
    liveness text NOT NULL,
    role text NOT NULL,
    software_version text NOT NULL,
    updated_time_ns bigint NOT NULL,
    boot_id text NOT NULL,
    sequence bigint NOT NULL
);

-- The latest vehicle state of each device: a later boot (boot_sequences.id: first message seen
-- later; boots first seen in one batch rank by key), then a higher sequence.
CREATE TABLE latest_state (
    device_id text PRIMARY KEY,
    region text NOT NULL,
    boot_rank bigint NOT NULL,
    boot_id text NOT NULL,
    sequence bigint NOT NULL,
    capture_time_ns bigint NOT NULL,
    received_time_ns bigint NOT NULL,
    latitude_deg double precision,
    longitude_deg double precision,
    body jsonb NOT NULL
);
CREATE INDEX latest_state_position ON latest_state USING gist (point(longitude_deg, latitude_deg))
    WHERE latitude_deg IS NOT NULL;

-- Rejected messages with their reason and raw payload, capped by the store (rows and bytes).
CREATE TABLE dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_time_ns bigint NOT NULL,
    topic text NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    payload bytea NOT NULL,
    size bigint NOT NULL
);
CREATE INDEX dead_letters_reason ON dead_letters (reason);

-- Running totals of dead_letters, one row: workers that share the table keep one cap.
CREATE TABLE dead_letter_totals (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    row_count bigint NOT NULL,
    byte_count bigint NOT NULL
);
INSERT INTO dead_letter_totals (row_count, byte_count) VALUES (0, 0);

-- Per stream, the fields cloud services ask for, from each message's JSON body.
CREATE VIEW vehicle_states AS
SELECT device_id, boot_id, sequence, region, capture_time_ns, received_time_ns,
    latitude_deg, longitude_deg,
    (body -> 'vehicle_state' ->> 'speed_mps')::double precision AS speed_mps,
    (body -> 'vehicle_state' ->> 'heading_rad')::double precision AS heading_rad,
    body -> 'vehicle_state' AS vehicle_state
FROM messages WHERE stream = 'state';

CREATE VIEW tracked_objects AS
SELECT m.device_id, m.boot_id, m.sequence, m.region, m.capture_time_ns, m.received_time_ns,
    m.body -> 'object_list' ->> 'sensor_id' AS sensor_id,
    (o ->> 'object_id')::bigint AS object_id,
    o ->> 'object_class' AS object_class,
    (o -> 'position' ->> 'latitude_deg')::double precision AS latitude_deg,
    (o -> 'position' ->> 'longitude_deg')::double precision AS longitude_deg,
    (o ->> 'speed_mps')::double precision AS speed_mps,
    (o ->> 'heading_rad')::double precision AS heading_rad,
    o AS object
FROM messages AS m
CROSS JOIN LATERAL jsonb_array_elements(COALESCE(m.body -> 'object_list' -> 'objects', '[]')) AS o
WHERE m.stream = 'objects';

CREATE VIEW signal_phases AS
SELECT m.device_id, m.boot_id, m.sequence, m.region, m.capture_time_ns, m.received_time_ns,
    (m.body -> 'spat' ->> 'intersection_id')::bigint AS intersection_id,
    (p ->> 'signal_group')::bigint AS signal_group,
    p ->> 'state' AS state,
    (p ->> 'min_end_s')::double precision AS min_end_s,
    (p ->> 'max_end_s')::double precision AS max_end_s,
    (p ->> 'likely_end_s')::double precision AS likely_end_s
FROM messages AS m
CROSS JOIN LATERAL jsonb_array_elements(COALESCE(m.body -> 'spat' -> 'phases', '[]')) AS p
WHERE m.stream = 'spat';

CREATE VIEW traffic_events AS
SELECT device_id, boot_id, sequence, region, capture_time_ns, received_time_ns,
    latitude_deg, longitude_deg,
    body -> 'event' ->> 'event_id' AS event_id,
    body -> 'event' ->> 'type' AS event_type,
    body -> 'event' ->> 'severity' AS severity,
    body -> 'event' AS event
FROM messages WHERE stream = 'events';

CREATE VIEW device_health AS
SELECT device_id, boot_id, sequence, region, capture_time_ns, received_time_ns,
    (body -> 'health' ->> 'uptime_s')::double precision AS uptime_s,
    (body -> 'health' ->> 'cpu_load')::double precision AS cpu_load,
    (body -> 'health' ->> 'temperature_c')::double precision AS temperature_c,
    body -> 'health' AS health
FROM messages WHERE stream = 'health';
