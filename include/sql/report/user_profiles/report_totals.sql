-- How many people signed up this hour, and how many of them had no usable email at the end of the hour?
SELECT
    count(*) AS users,
    count_if(email IS NULL) AS missing_emails,
    count_if(email IS NOT NULL AND NOT regexp_like(email, '^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$')) AS invalid_emails
FROM {{ state.as_of(data_interval_end, since=data_interval_start) }} AS users
WHERE from_iso8601_timestamp(created_at) >= from_iso8601_timestamp('{{ data_interval_start.isoformat() }}')
  AND from_iso8601_timestamp(created_at) < from_iso8601_timestamp('{{ data_interval_end.isoformat() }}')
