-- How many of this hour's sessions viewed a page, added to the cart and bought (sessions with that event in the hour)?
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
    round(100.0 * sessions / nullif(first_value(sessions) OVER (ORDER BY step), 0), 1) AS pct_of_page_view_sessions
FROM reached
ORDER BY reached.step
