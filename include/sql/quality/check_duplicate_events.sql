-- After deduplication, is every change of this hour there exactly once?
SELECT
    count(*) = count(DISTINCT event_id) AS passed,
    'changes=' || CAST(count(*) AS varchar)
        || ' distinct_events=' || CAST(count(DISTINCT event_id) AS varchar) AS detail
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }}
