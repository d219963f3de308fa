-- The hour's changes into the Iceberg table of versions: each change (a {{ state.key }} and sequence number)
-- from this hour's partition and the ones before it that late changes land in is inserted once, and
-- valid_to (the time a later change replaced a version) is recomputed for the versions those changes can end.
-- See cdc_pipeline.workflows.hourly.state for why any order of runs gives the same table.
{#- days: the days of the state table the window's changes belong to, found first by the same task
   (merge_state_days.sql; see cdc_pipeline.workflows.hourly.state.MergeState). #}
MERGE INTO {{ state.table }} AS t
USING (
    WITH batch AS (
        -- The window's changes, each once: a redelivered change has the same key and sequence number.
        SELECT *
        FROM (
            SELECT
                {{ state.source_columns("raw") }},
                raw.sequence_number AS sequence_number,
                raw.is_deleted AS is_deleted,
                CAST(from_iso8601_timestamp(raw.event_time) AS timestamp) AS valid_from,
                row_number() OVER (
                    PARTITION BY raw."{{ state.key }}", {{ state.sequence("raw.sequence_number") }}
                    ORDER BY raw.event_id
                ) AS copy_number
            FROM {{ lake.table }} AS raw
            WHERE {{ state.window(data_interval_start) }}
        ) AS change
        WHERE copy_number = 1
    ),
    touched AS (
        -- Per key of the window: its earliest new change, by sequence number and by time.
        SELECT
            "{{ state.key }}" AS touched_key,
            min({{ state.sequence("sequence_number") }}) AS first_sequence,
            min(valid_from) AS first_time
        FROM batch
        GROUP BY 1
    ),
    stored AS (
        -- The versions of those keys a new change can end (valid_to open or after its time), and every
        -- version after the earliest new change; only the columns that decide valid_to are read, and only
        -- from the days the window's changes belong to (a key's versions share its day).
        SELECT v."{{ state.key }}" AS "{{ state.key }}", v.sequence_number, v.valid_from, v.partition_time
        FROM (
            SELECT "{{ state.key }}", sequence_number, valid_from, valid_to, partition_time
            FROM {{ state.table }}
            WHERE {{ state.stored_days(days, data_interval_start) }}
        ) AS v
        JOIN touched ON v."{{ state.key }}" = touched.touched_key
        WHERE v.valid_to IS NULL
           OR v.valid_to >= touched.first_time
           OR {{ state.sequence("v.sequence_number") }} >= touched.first_sequence
    ),
    versions AS (
        -- Stored and new versions, each once (the stored copy of a change merged before wins).
        SELECT *
        FROM (
            SELECT
                *,
                row_number() OVER (
                    PARTITION BY "{{ state.key }}", {{ state.sequence("sequence_number") }} ORDER BY is_stored DESC
                ) AS copy_number
            FROM (
                SELECT "{{ state.key }}", sequence_number, valid_from, partition_time, TRUE AS is_stored
                FROM stored
                UNION ALL
                SELECT
                    "{{ state.key }}",
                    sequence_number,
                    valid_from,
                    {{ state.partition_time("batch") }} AS partition_time,
                    FALSE AS is_stored
                FROM batch
            ) AS every_version
        ) AS numbered
        WHERE copy_number = 1
    ),
    ended AS (
        -- A version ends when the first of the key's later changes (by sequence number) happened.
        SELECT
            "{{ state.key }}",
            sequence_number,
            valid_from,
            min(valid_from) OVER (
                PARTITION BY "{{ state.key }}" ORDER BY {{ state.sequence("sequence_number") }}
                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
            ) AS valid_to,
            coalesce(partition_time, max(partition_time) OVER (PARTITION BY "{{ state.key }}"), valid_from)
                AS partition_time,
            is_stored
        FROM versions
    )
    SELECT
        {% for column in state.declared %}{{ "ended" if column == state.key else "batch" }}."{{ column }}" AS "{{ column }}",
        {% endfor %}ended.sequence_number AS sequence_number,
        batch.is_deleted AS is_deleted,
        ended.valid_from AS valid_from,
        ended.valid_to AS valid_to,
        ended.partition_time AS partition_time
    FROM ended
    LEFT JOIN batch
        ON NOT ended.is_stored
        AND batch."{{ state.key }}" = ended."{{ state.key }}"
        AND batch.sequence_number = ended.sequence_number
) AS s
ON t."{{ state.key }}" = s."{{ state.key }}"
    AND t.partition_time = s.partition_time
    AND t.sequence_number = s.sequence_number
WHEN MATCHED AND t.valid_to IS DISTINCT FROM s.valid_to THEN
    UPDATE SET valid_to = s.valid_to
WHEN NOT MATCHED THEN
    INSERT ({% for column in state.columns %}"{{ column }}"{{ ", " if not loop.last }}{% endfor %})
    VALUES ({% for column in state.columns %}s."{{ column }}"{{ ", " if not loop.last }}{% endfor %})
