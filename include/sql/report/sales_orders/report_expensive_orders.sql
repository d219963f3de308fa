-- Seed 004's question: the ten orders with the highest order ids among those priced above 100.
SELECT orderid, product_name, quantity, price, order_time
FROM {{ lake.current_view }}
WHERE price > 100
ORDER BY orderid DESC
LIMIT 10
