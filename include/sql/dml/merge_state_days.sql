-- Which days of the state table can the hour's merge touch? The days (of the state_partition time) of the changes in its window; 'unknown' when a change lacks that time.
-- The MERGE then reads the stored versions of those days only (a key's versions share one day). Run
-- by the task merge_state before its MERGE; see cdc_pipeline.workflows.hourly.state.
SELECT DISTINCT
    coalesce(date_format({{ state.partition_time("raw") }}, '%Y-%m-%d'), 'unknown') AS day
FROM {{ lake.table }} AS raw
WHERE {{ state.window(data_interval_start) }}
