-- The body's JSON copy as json (its text, checked), no longer jsonb (parsed into a binary tree).
-- The bridge writes every message's body once and the cloud reads few of them, by the indexes
-- on the other columns: building jsonb (every number parsed as numeric, every object's keys
-- sorted) was about a tenth of the PostgreSQL backend's CPU per message, and jsonb is the
-- larger of the two (876 against 670 bytes for a vehicle state, in the history's rows and WAL).
-- The operators (->, ->>) are the same for json; a reader parses the text of each row it reads,
-- and SQL clients that want jsonb's operators or a GIN index cast (body::jsonb). Rewrites the
-- history and latest_state once: on a large database run `roadgate bridge migrate` while the
-- bridges are stopped.
DROP VIEW vehicle_states, tracked_objects, signal_phases, traffic_events, device_health;

ALTER TABLE messages ALTER COLUMN body TYPE json USING body::json;
ALTER TABLE latest_state ALTER COLUMN body TYPE json USING body::json;

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
CROSS JOIN LATERAL json_array_elements(COALESCE(m.body -> 'object_list' -> 'objects', '[]'))
    AS o
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
CROSS JOIN LATERAL json_array_elements(COALESCE(m.body -> 'spat' -> 'phases', '[]')) AS p
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
