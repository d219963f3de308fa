-- The hour's changes into the current-state Iceberg table: each {{ state.key }}'s latest change (by
-- sequence number, compared as 40-digit text) from this hour's partition and the ones before it that
-- late changes land in, applied only over an older row; a delete stays as a tombstone (is_deleted).
-- See cdc_pipeline.workflows.hourly.state for why any order of runs gives the same table.
MERGE INTO {{ state.table }} AS t
USING (
    SELECT
        {{ state.source_columns("change") }},
        change.sequence_number AS sequence_number,
        change.is_deleted AS is_deleted,
        CAST(from_iso8601_timestamp(change.event_time) AS timestamp) AS change_time
    FROM (
        SELECT
            raw.*,
            row_number() OVER (
                PARTITION BY raw."{{ state.key }}" ORDER BY {{ state.sequence("raw.sequence_number") }} DESC
            ) AS recency
        FROM {{ lake.table }} AS raw
        WHERE {{ state.window(data_interval_start) }}
    ) AS change
    WHERE recency = 1
) AS s
ON t."{{ state.key }}" = s."{{ state.key }}"
WHEN MATCHED AND {{ state.sequence("s.sequence_number") }} > {{ state.sequence("t.sequence_number") }} THEN
    UPDATE SET {% for column in state.columns %}"{{ column }}" = s."{{ column }}"{{ ", " if not loop.last }}{% endfor %}
WHEN NOT MATCHED THEN
    INSERT ({% for column in state.columns %}"{{ column }}"{{ ", " if not loop.last }}{% endfor %})
    VALUES ({% for column in state.columns %}s."{{ column }}"{{ ", " if not loop.last }}{% endfor %})
