-- Does every purchase of this hour have a positive amount (at most max_purchase_amount), and no other event any amount? Fails when a purchase's amount is NULL, <= 0 or too large, or another event carries an amount.
SELECT
    count_if(event_type = 'purchase' AND (amount IS NULL
        OR CAST(amount AS DECIMAL(12, 2)) <= 0
        OR CAST(amount AS DECIMAL(12, 2)) > {{ lake.max_purchase_amount }})) = 0
        AND count_if(event_type <> 'purchase' AND amount IS NOT NULL) = 0 AS passed,
    'bad_purchase_amounts='
        || CAST(count_if(event_type = 'purchase' AND (amount IS NULL
            OR CAST(amount AS DECIMAL(12, 2)) <= 0
            OR CAST(amount AS DECIMAL(12, 2)) > {{ lake.max_purchase_amount }})) AS varchar)
        || ' of ' || CAST(count_if(event_type = 'purchase') AS varchar)
        || ' amounts_on_other_events=' || CAST(count_if(event_type <> 'purchase' AND amount IS NOT NULL) AS varchar)
        || ' min_amount=' || coalesce(CAST(min(CAST(amount AS DECIMAL(12, 2))) AS varchar), 'none')
        || ' max_amount=' || coalesce(CAST(max(CAST(amount AS DECIMAL(12, 2))) AS varchar), 'none')
        || ' allowed=0.01..' || CAST({{ lake.max_purchase_amount }} AS varchar) AS detail
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }}
