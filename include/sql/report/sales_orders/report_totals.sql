-- How many orders, units and how much revenue did this hour bring (orders as at the end of the hour)?
SELECT
    count(*) AS orders,
    coalesce(sum(quantity), 0) AS units,
    coalesce(sum(CAST(price AS DECIMAL(12, 2)) * quantity), 0) AS revenue
FROM {{ state.as_of(data_interval_end, since=data_interval_start) }} AS orders
WHERE from_iso8601_timestamp(order_time) >= from_iso8601_timestamp('{{ data_interval_start.isoformat() }}')
  AND from_iso8601_timestamp(order_time) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
