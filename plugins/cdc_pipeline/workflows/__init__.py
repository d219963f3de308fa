"""DAG factories: each builds one DAG for one pipeline definition; `dags/` holds thin files that call them."""
