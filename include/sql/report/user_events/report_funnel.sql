-- Of this hour's sessions that viewed a page, how many went on to add to the cart and to buy?
WITH hour_events AS (
    SELECT session_id, event_type
    FROM {{ lake.changes_view }}
    WHERE {{ hour_partition(data_interval_start) }}
),
steps AS (
    SELECT step, event_type
    FROM (VALUES (1, 'page_view'), (2, 'add_to_cart'), (3, 'purchase')) AS funnel (step, event_type)
),
reached AS (
    SELECT steps.step, steps.event_type, count(DISTINCT hour_events.session_id) AS sessions
    FROM steps
    LEFT JOIN hour_events ON hour_events.event_type = steps.event_type
    GROUP BY steps.step, steps.event_type
)
SELECT
    event_type AS step,
    sessions,
    round(CAST(sessions AS double) / nullif(first_value(sessions) OVER (ORDER BY step), 0), 4) AS share_of_page_view_sessions
FROM reached
ORDER BY reached.step
