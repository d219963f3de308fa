-- The change log with each change once: Pipes and Firehose deliver at least once, so a change may land twice.
-- The columns are named (not SELECT *): a crawler adding a column would make a SELECT * view stale.
--
-- Copies are found per hour partition (PARTITION BY the partition columns, then event_id), never
-- across the whole table: a redelivered copy carries the same stream record, so it has the same
-- event_time, and the partition is made of the change's own event_time (the CDC transform's
-- partitionKeys, the Kinesis consumer's object key), not of when the copy arrived. So both copies
-- are always in the same partition, and deduplicating per partition removes exactly what
-- deduplicating over the whole table would. What that buys: a filter on the hour's partition
-- columns passes below the window (Athena pushes a filter on a window's PARTITION BY columns down
-- to the table scan), so a check of one hour reads that hour's files, whatever the lake's age.
-- (A row with no event time at all is partitioned by its record's arrival time in Kinesis instead,
-- which a redelivery of that record keeps; and DynamoDB stream records always carry
-- ApproximateCreationDateTime, so a CDC change never takes that path.)
CREATE OR REPLACE VIEW {{ lake.changes_view }} AS
SELECT {{ lake.columns() }}
FROM (
    SELECT
        {{ lake.columns("raw") }},
        row_number() OVER (
            PARTITION BY raw.year, raw.month, raw.day, raw.hour, raw.event_id ORDER BY raw.sequence_number
        ) AS copy_number
    FROM {{ lake.table }} AS raw
)
WHERE copy_number = 1
