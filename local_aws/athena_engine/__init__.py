"""Athena's query engine for local_aws: Trino SQL transpiled by sqlglot and run on DuckDB.

The modules: `types` (Hive, DuckDB and Athena type names), `catalog` (Glue tables and S3 bytes,
read under the world lock), `loading` (S3 objects into DuckDB relations by SerDe), `rendering`
(values as Athena prints them, result CSV), `engine` (statements, views, partition pruning),
`trino_functions` (sqlglot rewrites where DuckDB's function answers differently from Trino's).

LIMITATIONS: Trino's semantics hold as far as tests/local_aws/test_trino_conformance.py shows (cases
from Trino's function documentation); these cases differ, each a strict xfail there:
- timestamp with time zone keeps the instant, not the zone (DuckDB's TIMESTAMPTZ): it is shown in
  UTC and AT TIME ZONE drops the zone (dt_from_iso_ts, dt_at_time_zone); a field read straight off
  from_iso8601_timestamp (hour, date, ...) is on the text's own clock, as in Trino.
- an unknown date_add unit is a SYNTAX_ERROR, not INVALID_FUNCTION_ARGUMENT (dt_bad_unit).
- avg(decimal) gives double (ag_avg_decimal), and so does decimal / decimal unless both operands'
  types are written in the SQL (`trino_decimal`); ``CAST('1.5' AS DECIMAL)`` without (p, s) is
  read as the literal ``DECIMAL '1.5'`` (decimal(2,1), not (38,0)).
- double division by zero fails as DIVISION_BY_ZERO (Trino: Infinity) (m_double_divide_zero);
  cbrt is inexact for cubes (m_cbrt); sign(integer) is tinyint (m_sign).
- not provided: human_readable_seconds, luhn_check, regexp_position, from_base, format_number,
  repeat of an element, UNNEST of several arrays; of the hidden columns only "$path" and
  "$file_size" of Hive tables (`binding`).
- a subscript past an array's end is NULL (Trino fails). cardinality of a map, reverse of an
  array and sequence of dates work where the map, array or dates are written in the SQL (a MAP(...)
  call, an ARRAY[...], DATE literals or casts), not over a column; bit_count needs literal bits.
- a timestamp cast to varchar is written without its fraction when it is a whole second
  (``2024-01-02 03:04:05``; Trino writes the type's precision, ``.000`` for timestamp(3), ``.000000``
  for an Iceberg table's timestamp(6)) (cv_timestamp_to_varchar); date_format is exact.
- typeof names the type of a string literal (varchar(n)), otherwise DuckDB's type lower-cased with
  Trino's names for arrays, real, bigint and timestamp(3): a varchar column is ``varchar``.
- UNNEST(x) AS t(a, b) with two or more names reads x as an array of rows (or a map); an array
  of plain values with several names fails in DuckDB's words, not Trino's.
"""
