-- How old were our users at the end of the hour (every user then, by age band)?
SELECT
    CASE
        WHEN age < 18 THEN 'under 18'
        WHEN age < 25 THEN '18-24'
        WHEN age < 35 THEN '25-34'
        WHEN age < 45 THEN '35-44'
        WHEN age < 55 THEN '45-54'
        WHEN age < 65 THEN '55-64'
        ELSE '65+'
    END AS age_band,
    count(*) AS users
FROM {{ state.as_of(data_interval_end) }} AS users
GROUP BY 1
ORDER BY 1
