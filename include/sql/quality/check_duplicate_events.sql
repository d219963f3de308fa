-- Did any change of this hour survive deduplication more than once? Fails when the deduplicated view holds a change (key + sequence number) more than once. (Reads the deduplicated view, not the raw table: see below.)
--
-- A change is identified by the stream's own identity, the item key plus the stream sequence number
-- (one item's changes share a shard, and its sequence numbers only grow), never by event_id: a replay
-- that mints a new event_id for an old change yields a copy the view's dedupe by event_id keeps.
--
-- Why the view and not the raw table: Pipes and Firehose deliver at least once, so the raw table
-- legitimately holds exact copies (same event_id); counting raw rows against distinct changes would
-- fail on every ordinary redelivery. What must hold is what every view, check and report downstream
-- reads: in the deduplicated changes, each change exactly once. Reading the view also tests the dedupe
-- itself, so a change to the view is judged by its result. The raw count is reported for context
-- (delivered - rows = the copies the view removed). Both read the hour's partition only: the view
-- finds copies per partition, which Athena prunes to the hour (see ddl/create_view_changes.sql).
--
-- For a direct pipeline (user_events) the key is the producer's event_id itself, so the same
-- question holds and the same file answers it.
WITH copies_per_change AS (
    SELECT {{ lake.key }}, sequence_number, count(*) AS copies
    FROM {{ lake.changes_view }}
    WHERE {{ hour_partition(data_interval_start) }}
    GROUP BY {{ lake.key }}, sequence_number
),
totals AS (
    SELECT coalesce(sum(copies), 0) AS deduplicated_rows, count(*) AS distinct_changes
    FROM copies_per_change
)
SELECT
    deduplicated_rows = distinct_changes AS passed,
    'duplicate_changes=' || CAST(deduplicated_rows - distinct_changes AS varchar)
        || ' rows=' || CAST(deduplicated_rows AS varchar)
        || ' distinct_changes=' || CAST(distinct_changes AS varchar)
        || ' delivered=' || CAST(
            (SELECT count(*) FROM {{ lake.table }} WHERE {{ hour_partition(data_interval_start) }}) AS varchar
        ) AS detail
FROM totals
