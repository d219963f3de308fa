-- Does every change in this hour carry its key and its change metadata?
SELECT
    count_if({{ lake.key }} IS NULL OR event_id IS NULL OR sequence_number IS NULL) = 0 AS passed,
    'changes_missing_key_or_metadata='
        || CAST(count_if({{ lake.key }} IS NULL OR event_id IS NULL OR sequence_number IS NULL) AS varchar)
        || ' of ' || CAST(count(*) AS varchar) AS detail
FROM {{ lake.table }}
WHERE {{ hour_partition(data_interval_start) }}
