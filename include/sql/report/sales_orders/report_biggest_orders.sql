-- Which were this hour's ten biggest orders, by what the customer paid?
SELECT
    orderid,
    product_name,
    quantity,
    CAST(price AS DECIMAL(12, 2)) AS price,
    CAST(price AS DECIMAL(12, 2)) * quantity AS order_value
FROM {{ lake.current_view }}
WHERE from_iso8601_timestamp(order_time) >= from_iso8601_timestamp('{{ data_interval_start.isoformat() }}')
  AND from_iso8601_timestamp(order_time) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
ORDER BY order_value DESC, orderid
LIMIT 10
