-- Which were this hour's ten biggest orders, by what the customer paid, as at the end of the hour?
SELECT
    orderid,
    product_name,
    quantity,
    CAST(price AS DECIMAL(12, 2)) AS price,
    CAST(price AS DECIMAL(12, 2)) * quantity AS order_value
FROM {{ state.as_of(data_interval_end, since=data_interval_start) }} AS orders
WHERE from_iso8601_timestamp(order_time) >= from_iso8601_timestamp('{{ data_interval_start.isoformat() }}')
  AND from_iso8601_timestamp(order_time) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
ORDER BY order_value DESC, orderid
LIMIT 10
