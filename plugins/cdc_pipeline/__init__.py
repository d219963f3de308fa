"""cdc-lake's pipeline package: settings, dataset definitions, provisioning, generators, alerting, reports.

Airflow puts `plugins/` on sys.path, so DAGs import `cdc_pipeline.<module>`. Importing this package does
nothing else: no AWS call, no heavy import, so DAG files stay cheap to parse.
"""
