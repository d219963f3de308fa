-- Where did our users live at the end of the hour (the largest cities first)?
SELECT
    address.city AS city,
    address.state AS state,
    address.country AS country,
    count(*) AS users
FROM {{ state.as_of(data_interval_end) }} AS users
GROUP BY address.city, address.state, address.country
ORDER BY users DESC, city
