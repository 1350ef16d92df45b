"""Browser figures (filled in with the timeline benchmarks)."""

from __future__ import annotations


def run(report, quick: bool = False) -> None:
    report("browser.skipped", 0, "", "the page benchmarks come with the timeline viewer")
