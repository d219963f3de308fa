-- How many events, users, sessions and purchases did this hour have, and how much revenue?
SELECT
    count(*) AS events,
    count(DISTINCT user_id) AS users,
    count(DISTINCT session_id) AS sessions,
    count_if(event_type = 'purchase') AS purchases,
    coalesce(sum(CASE WHEN event_type = 'purchase' THEN CAST(amount AS DECIMAL(12, 2)) END), 0) AS revenue
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }}
