-- Where did this hour's revenue come from (purchases and revenue by country, largest first)?
SELECT
    country,
    count(*) AS purchases,
    sum(CAST(amount AS DECIMAL(12, 2))) AS revenue
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }} AND event_type = 'purchase'
GROUP BY country
ORDER BY revenue DESC, country
