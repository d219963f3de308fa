-- Does the state table hold every change the lake delivered long enough ago to have been merged? Fails naming how many are missing and the hours whose hourly runs would merge them.
--
-- Run by the reconcile DAG (whole table, by design), not the hourly one. A change is merged by the
-- hourly runs of its partition's hour and the LATE_HOURS hours after it; one that arrived later than
-- that (an old event time, a delivery Firehose retried for hours) is in the lake but not in the
-- state table, and no hourly check sees it. `cutoff` (the task dynamodb_as_of_watermark's watermark
-- less LATE_HOURS + 2 hours, formatted by the reconcile DAG: never user input) leaves out changes whose
-- runs may still be to come. The fix it names: run or re-run those hours' hourly runs.
{%- set cutoff = merged_by(ti.xcom_pull(task_ids='dynamodb_as_of_watermark')['watermark']) %}
WITH unmerged AS (
    SELECT c.year || '-' || c.month || '-' || c.day || 'T' || c.hour AS partition_hour
    FROM {{ lake.changes_view }} c
    WHERE c.approximate_creation_time < '{{ cutoff }}'
      AND NOT EXISTS (
          SELECT 1
          FROM {{ state.table }} s
          WHERE s.{{ state.key }} = c.{{ lake.key }}
            AND {{ state.sequence('s.sequence_number') }} = {{ state.sequence('c.sequence_number') }}
      )
)
SELECT
    count(*) = 0 AS passed,
    'unmerged_changes=' || CAST(count(*) AS varchar)
        || ' hours=' || CAST(count(DISTINCT partition_hour) AS varchar)
        || ' first_hour=' || coalesce(min(partition_hour), 'none')
        || ' last_hour=' || coalesce(max(partition_hour), 'none')
        || ' cutoff={{ cutoff }}' AS detail
FROM unmerged
