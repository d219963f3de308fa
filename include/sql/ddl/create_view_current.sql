-- The current state of each {{ lake.key }}: its latest change by sequence number, gone if that change was a delete.
-- The columns are named (not SELECT *): a crawler adding a column would make a SELECT * view stale.
CREATE OR REPLACE VIEW {{ lake.current_view }} AS
SELECT {{ lake.columns() }}
FROM (
    SELECT
        {{ lake.columns("change") }},
        row_number() OVER (PARTITION BY {{ lake.key }} ORDER BY sequence_number DESC) AS recency
    FROM {{ lake.changes_view }} AS change
)
WHERE recency = 1 AND NOT is_deleted
