-- Did any change land in this hour's partition?
SELECT
    count(*) > 0 AS passed,
    'changes_in_hour=' || CAST(count(*) AS varchar) AS detail
FROM {{ lake.table }}
WHERE {{ hour_partition(data_interval_start) }}
