-- Which ten orders priced above 100 have the highest order ids? (the classic first Athena query on this lake)
SELECT
    orderid,
    product_name,
    quantity,
    CAST(price AS DECIMAL(12, 2)) AS price,
    order_time
FROM {{ lake.current_view }}
WHERE price > 100
ORDER BY orderid DESC
LIMIT 10
