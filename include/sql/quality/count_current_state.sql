-- How many items does the lake say exist now? (compared with the table's own count)
SELECT count(*) AS current_items
FROM {{ lake.current_view }}
