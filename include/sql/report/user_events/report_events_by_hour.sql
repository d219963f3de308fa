-- How busy was each hour of the day so far, by kind of event?
SELECT
    date_format(date_trunc('hour', from_iso8601_timestamp(event_time)), '%Y-%m-%d %H:00') AS event_hour,
    count(*) AS events,
    count_if(event_type = 'page_view') AS page_views,
    count_if(event_type = 'search') AS searches,
    count_if(event_type = 'add_to_cart') AS add_to_carts,
    count_if(event_type = 'purchase') AS purchases,
    count_if(event_type = 'login') AS logins,
    count_if(event_type = 'logout') AS logouts
FROM {{ lake.changes_view }}
WHERE from_iso8601_timestamp(event_time) >= from_iso8601_timestamp('{{ data_interval_start.start_of("day").isoformat() }}')
  AND from_iso8601_timestamp(event_time) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
GROUP BY 1
ORDER BY 1
