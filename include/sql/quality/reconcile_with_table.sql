-- Does the lake, as of a watermark both it and DynamoDB have passed, hold DynamoDB's items and every change of its stream? Fails when the item counts differ or a stream change is missing from the lake.
--
-- The table's side comes from the task dynamodb_as_of_watermark (DynamoDB has no time travel: it
-- rebuilds the table's state at the watermark from a scan and the stream; see the module docstring of
-- cdc_pipeline.workflows.hourly.reconciliation). Both sides put a change before or after the watermark
-- by the stream's ApproximateCreationDateTime, which the lake keeps as approximate_creation_time, so
-- changes still in Firehose's buffers are left out of both. Its values are numbers and timestamps
-- that task formats, never user input.
{%- set table = ti.xcom_pull(task_ids='dynamodb_as_of_watermark') %}
{%- set watermark = table['watermark'] | string %}
{%- set window_start = table['window_start'] | string %}
WITH before_watermark AS (
    SELECT {{ lake.key }} AS item_key, sequence_number, is_deleted, approximate_creation_time
    FROM {{ lake.changes_view }}
    WHERE approximate_creation_time < '{{ watermark }}'
),
latest AS (
    SELECT
        is_deleted,
        row_number() OVER (PARTITION BY item_key ORDER BY sequence_number DESC) AS recency
    FROM before_watermark
),
in_window AS (
    SELECT DISTINCT item_key, sequence_number
    FROM before_watermark
    WHERE approximate_creation_time >= '{{ window_start }}'
),
lake AS (
    SELECT
        (SELECT count(*) FROM latest WHERE recency = 1 AND NOT is_deleted) AS items,
        (SELECT count(*) FROM in_window) AS changes
)
SELECT
    items = {{ table['items'] | int }} AND changes = {{ table['changes'] | int }} AS passed,
    'lake_items=' || CAST(items AS varchar)
        || ' table_items=' || CAST({{ table['items'] | int }} AS varchar)
        || ' lost_changes=' || CAST({{ table['changes'] | int }} - changes AS varchar)
        || ' lake_changes=' || CAST(changes AS varchar)
        || ' stream_changes=' || CAST({{ table['changes'] | int }} AS varchar)
        || ' watermark={{ watermark }} window_start={{ window_start }}' AS detail
FROM lake
