"""cdc-lake's commands, outside the Airflow plugins: `python -m cdc_cli.demo` (what `make demo` runs).

Nothing here is imported by DAGs or tasks. `local_server` holds what every program that starts the
embedded AWS in a process of its own needs (a free port, start and wait): the demo, the benchmarks,
`scripts/airflow_local.py`'s tests and the tests' server processes.
"""
