-- How many orders, units and how much revenue did this hour bring (orders as they stand now)?
SELECT
    count(*) AS orders,
    coalesce(sum(quantity), 0) AS units,
    coalesce(sum(CAST(price AS DECIMAL(12, 2)) * quantity), 0) AS revenue
FROM {{ lake.current_view }}
WHERE from_iso8601_timestamp(order_time) >= from_iso8601_timestamp('{{ data_interval_start.isoformat() }}')
  AND from_iso8601_timestamp(order_time) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
