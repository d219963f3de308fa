-- Where do our users live (the largest cities first)?
SELECT
    address.city AS city,
    address.state AS state,
    address.country AS country,
    count(*) AS users
FROM {{ lake.current_view }}
GROUP BY address.city, address.state, address.country
ORDER BY users DESC, city
