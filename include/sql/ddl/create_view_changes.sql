-- The change log with each change once: Pipes and Firehose deliver at least once, so a change may land twice.
-- The columns are named (not SELECT *): a crawler adding a column would make a SELECT * view stale.
CREATE OR REPLACE VIEW {{ lake.changes_view }} AS
SELECT {{ lake.columns() }}
FROM (
    SELECT
        {{ lake.columns("raw") }},
        row_number() OVER (PARTITION BY event_id ORDER BY sequence_number) AS copy_number
    FROM {{ lake.table }} AS raw
)
WHERE copy_number = 1
