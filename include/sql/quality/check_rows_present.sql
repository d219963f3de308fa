-- Does the table read every row the delivery sensor saw land in this hour's partition? Fails when the partition has no rows, or the table reads fewer rows than the hour's S3 objects hold (a catalog miss, an object the table does not read).
--
-- The S3 side is the task inspect_delivery: it lists the hour's prefix (what wait_for_delivery
-- waited on) and counts the rows of its objects (JSON lines, or a Parquet object's rows; a Parquet
-- object it cannot read adds none, see unreadable_objects). More rows in the table than were counted
-- passes: an object may have landed between the listing and this query. Its values are numbers
-- that task computed, never user input.
{%- set delivered = ti.xcom_pull(task_ids='inspect_delivery') %}
SELECT
    count(*) > 0 AND count(*) >= {{ delivered['delivered_rows'] | int }} AS passed,
    'table_rows=' || CAST(count(*) AS varchar)
        || ' delivered_rows=' || CAST({{ delivered['delivered_rows'] | int }} AS varchar)
        || ' objects=' || CAST({{ delivered['objects'] | int }} AS varchar) AS detail
FROM {{ lake.table }}
WHERE {{ hour_partition(data_interval_start) }}
