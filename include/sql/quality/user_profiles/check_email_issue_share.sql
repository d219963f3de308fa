-- Is the share of this hour's profile writes with a missing or invalid email below the allowed share? Fails when, over at least min_email_sample writes, more than max_email_issue_share have a NULL or malformed email.
WITH hour_writes AS (
    SELECT
        count(*) AS writes,
        count_if(email IS NULL) AS missing_emails,
        count_if(email IS NOT NULL AND NOT regexp_like(email, '^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$')) AS invalid_emails
    FROM {{ lake.changes_view }}
    WHERE {{ hour_partition(data_interval_start) }} AND NOT is_deleted
)
SELECT
    -- An hour with fewer than min_email_sample writes passes: a handful of sign-ups says nothing.
    writes < {{ lake.min_email_sample }}
        OR CAST(missing_emails + invalid_emails AS double) / greatest(writes, 1) <= {{ lake.max_email_issue_share }} AS passed,
    -- As a decimal: Trino prints a double in scientific notation (1.25E-1).
    'email_issue_share='
        || CAST(CAST(CAST(missing_emails + invalid_emails AS double) / greatest(writes, 1) AS DECIMAL(5, 4)) AS varchar)
        || ' missing=' || CAST(missing_emails AS varchar)
        || ' invalid=' || CAST(invalid_emails AS varchar)
        || ' of ' || CAST(writes AS varchar)
        || ' allowed=' || CAST({{ lake.max_email_issue_share }} AS varchar) AS detail
FROM hour_writes
