"""The report's check section: each of the hour's checks, passed or failed, with the numbers it found.

The checks push their results as XComs (``check_result``, see
``cdc_pipeline.workflows.hourly.check_results``); ``publish_report`` pulls them and hands them here.
The section goes at the top of the page, and a failed hour is marked as such in the title, so a
failed hour's report never looks like a good one. A check that did not run (its upstream failed) is
listed as not run: the hour's checks are then not all known to pass, and the report says so.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

CHECK_RESULT_KEY = "check_result"
NOT_RUN = "not run"


def collect(ti: Any, check_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Each check's pushed result, or a "not run" entry for a check that pushed none."""
    results = []
    for check in check_ids:
        pushed = ti.xcom_pull(task_ids=check, key=CHECK_RESULT_KEY)
        if isinstance(pushed, Mapping):
            results.append(dict(pushed))
        else:
            results.append({"check": check, "passed": None, "question": "", "numbers": {}})
    return results


def verdict(result: Mapping[str, Any]) -> str:
    return {True: "passed", False: "FAILED"}.get(result.get("passed"), NOT_RUN)


def summary(results: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What summary.json says about the checks: the verdict, the failed ones, every result."""
    results = results or []
    failed = [r["check"] for r in results if r.get("passed") is False]
    not_run = [r["check"] for r in results if r.get("passed") is None]
    return {
        "passed": not failed and not not_run,
        "failed": failed,
        "not_run": not_run,
        "results": results,
    }


def _numbers_html(numbers: Mapping[str, Any]) -> str:
    if not numbers:
        return "<td>no numbers</td>"
    shown = " ".join(f"<code>{html.escape(str(n))}={html.escape(str(v))}</code>" for n, v in numbers.items())
    return f"<td>{shown}</td>"


def render_section(results: list[dict[str, Any]]) -> str:
    """The HTML section: a headline verdict, then one row per check."""
    state = summary(results)
    if state["passed"]:
        headline = f"All {len(results)} checks of this hour passed."
    else:
        parts = [f"{len(state['failed'])} of {len(results)} checks FAILED"]
        if state["not_run"]:
            parts.append(f"{len(state['not_run'])} did not run")
        headline = ", ".join(parts) + ": this hour's data is not to be trusted as is."
    css = "checks-passed" if state["passed"] else "checks-failed"
    rows = [
        f'<tr class="{html.escape(verdict(r).replace(" ", "-").lower())}">'
        f"<td>{html.escape(str(r['check']))}</td><td><strong>{html.escape(verdict(r))}</strong></td>"
        f"{_numbers_html(r.get('numbers') or {})}<td>{html.escape(str(r.get('question') or ''))}</td></tr>"
        for r in results
    ]
    return "\n".join(
        [
            f'<section class="checks {css}" id="checks">',
            "<h2>Quality checks</h2>",
            f"<p><strong>{html.escape(headline)}</strong></p>",
            "<table><tr><th>check</th><th>result</th><th>numbers</th><th>question</th></tr>",
            *rows,
            "</table>",
            "</section>",
        ]
    )


def insert_section(page: str, results: list[dict[str, Any]] | None) -> str:
    """The page with the check section right after its heading; a failed hour's title says FAILED."""
    if results is None:
        return page
    section = render_section(results)
    if not summary(results)["passed"]:
        page = page.replace("<title>", "<title>CHECKS FAILED: ", 1)
    marker = "</h1>"
    at = page.find(marker)
    if at < 0:
        marker = "<body>"
        at = page.find(marker)
    if at < 0:
        return section + page
    at += len(marker)
    return page[:at] + "\n" + section + page[at:]
