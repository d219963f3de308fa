-- Which products brought in the most revenue this hour, with orders as at the end of the hour?
SELECT
    product_name,
    count(*) AS orders,
    sum(quantity) AS units,
    sum(CAST(price AS DECIMAL(12, 2)) * quantity) AS revenue
FROM {{ state.as_of(data_interval_end, since=data_interval_start) }} AS orders
WHERE from_iso8601_timestamp(order_time) >= from_iso8601_timestamp('{{ data_interval_start.isoformat() }}')
  AND from_iso8601_timestamp(order_time) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
GROUP BY product_name
ORDER BY revenue DESC, product_name
