-- Is every age written in this hour a sane adult age (inside the definition's min_age..max_age)?
SELECT
    count_if(age IS NULL OR age < {{ lake.min_age }} OR age > {{ lake.max_age }}) = 0 AS passed,
    'ages_out_of_range=' || CAST(count_if(age IS NULL OR age < {{ lake.min_age }} OR age > {{ lake.max_age }}) AS varchar)
        || ' of ' || CAST(count(*) AS varchar)
        || ' min_age=' || coalesce(CAST(min(age) AS varchar), 'none')
        || ' max_age=' || coalesce(CAST(max(age) AS varchar), 'none')
        || ' allowed=' || CAST({{ lake.min_age }} AS varchar) || '..' || CAST({{ lake.max_age }} AS varchar) AS detail
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }} AND NOT is_deleted
