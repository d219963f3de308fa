-- Which products brought in the most revenue this hour?
SELECT
    product_name,
    count(*) AS orders,
    sum(quantity) AS units,
    sum(CAST(price AS DECIMAL(12, 2)) * quantity) AS revenue
FROM {{ lake.current_view }}
WHERE from_iso8601_timestamp(order_time) >= from_iso8601_timestamp('{{ data_interval_start.isoformat() }}')
  AND from_iso8601_timestamp(order_time) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
GROUP BY product_name
ORDER BY revenue DESC, product_name
