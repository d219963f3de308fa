-- How did orders and revenue add up over the day so far, hour by hour, as at the end of this hour?
SELECT
    date_format(date_trunc('hour', from_iso8601_timestamp(order_time)), '%Y-%m-%d %H:00') AS order_hour,
    count(*) AS orders,
    sum(CAST(price AS DECIMAL(12, 2)) * quantity) AS revenue
FROM {{ state.as_of(data_interval_end, since=data_interval_start.start_of("day")) }} AS orders
WHERE from_iso8601_timestamp(order_time) >= from_iso8601_timestamp('{{ data_interval_start.start_of("day").isoformat() }}')
  AND from_iso8601_timestamp(order_time) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
GROUP BY 1
ORDER BY 1
