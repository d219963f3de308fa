"""Athena's query engine for local_aws: Trino SQL transpiled by sqlglot and run on DuckDB.

The modules: `types` (Hive, DuckDB and Athena type names), `catalog` (Glue tables and S3 bytes,
read under the world lock), `loading` (S3 objects into DuckDB relations by SerDe), `rendering`
(values as Athena prints them, result CSV), `engine` (statements, views, partition pruning).
"""
