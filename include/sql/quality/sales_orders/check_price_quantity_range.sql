-- Are this hour's order prices and quantities inside the ranges the business allows?
SELECT
    count_if(price <= 0 OR price > {{ lake.max_price }}) = 0
        AND count_if(quantity < 1 OR quantity > {{ lake.max_quantity }}) = 0 AS passed,
    'prices_out_of_range=' || CAST(count_if(price <= 0 OR price > {{ lake.max_price }}) AS varchar)
        || ' quantities_out_of_range='
        || CAST(count_if(quantity < 1 OR quantity > {{ lake.max_quantity }}) AS varchar)
        -- A decimal prints as people read it (-5.00); Trino prints a double as 3.4999E2.
        || ' min_price=' || coalesce(CAST(CAST(min(price) AS DECIMAL(12, 2)) AS varchar), 'none') AS detail
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }} AND NOT is_deleted
