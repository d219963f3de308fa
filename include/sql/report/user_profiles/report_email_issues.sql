-- Across all users as at the end of the hour, how many emails are missing or invalid, and what share is that?
SELECT
    count(*) AS users,
    count_if(email IS NULL) AS missing_emails,
    count_if(email IS NOT NULL AND NOT regexp_like(email, '^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$')) AS invalid_emails,
    round(
        CAST(count_if(email IS NULL OR NOT regexp_like(email, '^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$')) AS double)
            / greatest(count(*), 1),
        4
    ) AS email_issue_share
FROM {{ state.as_of(data_interval_end) }} AS users
