-- Are this hour's order prices and quantities inside the ranges the business allows? Fails when a written order's price is NULL, <= 0 or above max_price, or its quantity NULL, < 1 or above max_quantity.
--
-- Hand-written rather than the provider's column checks: those report the hour's min and max, this
-- counts the orders out of range, which is what an alert reader needs. NULL counts as a failure
-- (count_if of a NULL comparison would not). Deletes carry no new price and are left out.
SELECT
    count_if(price IS NULL OR price <= 0 OR price > {{ lake.max_price }}) = 0
        AND count_if(quantity IS NULL OR quantity < 1 OR quantity > {{ lake.max_quantity }}) = 0 AS passed,
    'prices_out_of_range=' || CAST(count_if(price IS NULL OR price <= 0 OR price > {{ lake.max_price }}) AS varchar)
        || ' quantities_out_of_range='
        || CAST(count_if(quantity IS NULL OR quantity < 1 OR quantity > {{ lake.max_quantity }}) AS varchar)
        || ' null_prices=' || CAST(count_if(price IS NULL) AS varchar)
        || ' null_quantities=' || CAST(count_if(quantity IS NULL) AS varchar)
        -- A decimal prints as people read it (-5.00); Trino prints a double as 3.4999E2.
        || ' min_price=' || coalesce(CAST(CAST(min(price) AS DECIMAL(12, 2)) AS varchar), 'none') AS detail
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }} AND NOT is_deleted
