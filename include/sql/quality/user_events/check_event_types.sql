-- Is every event of this hour one of the known types (page_view, search, add_to_cart, purchase, login, logout)? Fails when an event's type is NULL or unknown.
SELECT
    count_if(event_type IS NULL
        OR event_type NOT IN ('page_view', 'search', 'add_to_cart', 'purchase', 'login', 'logout')) = 0 AS passed,
    'unknown_event_types='
        || CAST(count_if(event_type IS NULL
            OR event_type NOT IN ('page_view', 'search', 'add_to_cart', 'purchase', 'login', 'logout')) AS varchar)
        || ' of ' || CAST(count(*) AS varchar)
        || ' example=' || coalesce(min(CASE
            WHEN event_type IS NULL THEN 'null'
            WHEN event_type NOT IN ('page_view', 'search', 'add_to_cart', 'purchase', 'login', 'logout') THEN event_type
        END), 'none') AS detail
FROM {{ lake.changes_view }}
WHERE {{ hour_partition(data_interval_start) }}
