"""Airflow scans plugins/ for plugins: only the plugin file, not the packages it imports.

Airflow imports every .py file it finds under the plugins folder as a top-level module named after
the file. Without plugins/.airflowignore that put cdc_pipeline/provision/pipes.py into
``sys.modules["pipes"]`` (the standard library's name) and ran every module of the package a second
time under a wrong name.
"""

from __future__ import annotations

import sys

from cdc_pipeline.settings import REPO_ROOT


def test_only_the_plugin_file_is_scanned_and_the_reports_plugin_loads() -> None:
    from airflow._shared.module_loading import find_path_from_directory
    from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory

    folder = str(REPO_ROOT / "plugins")
    scanned = [
        path for path in find_path_from_directory(folder, ".airflowignore", "glob") if path.endswith(".py")
    ]
    assert [path.removeprefix(folder + "/") for path in scanned] == ["cdc_reports_plugin.py"]
    before = sys.modules.get("pipes")
    plugins, errors = _load_plugins_from_plugin_directory(folder)
    assert errors == {}
    assert [plugin.name for plugin in plugins] == ["cdc_reports"]
    assert sys.modules.get("pipes") is before
