-- Does every change of this hour carry a user id, and is each one a UUID as the sign-up issues them? Fails when an id is NULL or not a lower-case UUID.
SELECT
    count_if(id IS NULL OR NOT regexp_like(id, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')) = 0 AS passed,
    'null_ids=' || CAST(count_if(id IS NULL) AS varchar)
        || ' malformed_ids='
        || CAST(count_if(NOT regexp_like(id, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')) AS varchar)
        || ' of ' || CAST(count(*) AS varchar) AS detail
FROM {{ lake.table }}
WHERE {{ hour_partition(data_interval_start) }}
