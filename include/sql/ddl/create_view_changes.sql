-- The change log with each change once: Pipes and Firehose deliver at least once, so a change may land twice.
CREATE OR REPLACE VIEW {{ lake.changes_view }} AS
SELECT *
FROM (
    SELECT
        raw.*,
        row_number() OVER (PARTITION BY event_id ORDER BY sequence_number) AS copy_number
    FROM {{ lake.table }} AS raw
)
WHERE copy_number = 1
