-- Did this hour's changes reach the lake within the allowed delay after they were written?
SELECT
    coalesce(max(date_diff('second',
        from_iso8601_timestamp(approximate_creation_time),
        from_iso8601_timestamp(processed_at))), 0) <= {{ lake.max_delay_seconds }} AS passed,
    'slowest_change_seconds=' || CAST(coalesce(max(date_diff('second',
        from_iso8601_timestamp(approximate_creation_time),
        from_iso8601_timestamp(processed_at))), 0) AS varchar)
        || ' allowed=' || CAST({{ lake.max_delay_seconds }} AS varchar) AS detail
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }}
