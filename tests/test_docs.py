"""What is public is documented, and the README's commands are the ones CI runs."""

from __future__ import annotations

import re
import subprocess
import sys

from app.cli import build_parser
from app.tracer.events import KIND_NAMES, RUN_STATUSES, TASK_KINDS
from demos import DEMOS

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
FORMAT_DOC = (ROOT / "docs" / "trace-format.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    """The first two shell blocks of the README: run the app; run the tests."""
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", README, re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    app_cmd, test_cmd = readme_commands()
    assert "coroscope serve" in app_cmd
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines(), ".ci/run must run the README's test command verbatim"
    head = README[: README.index(test_cmd)]
    assert head.count("```") == 3, "the two commands come first in the README"


def test_every_event_kind_task_kind_and_status_is_documented():
    for name in KIND_NAMES:
        assert f"`{name}`" in FORMAT_DOC, name
    for name in TASK_KINDS + RUN_STATUSES:
        assert f"`{name}`" in FORMAT_DOC, name


def test_every_cli_option_is_in_the_readme():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, cmd in sub.choices.items():
        assert f"coroscope {name}" in README, name
        for action in cmd._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in README, f"{name} {opt} is not documented"


def test_every_demo_has_a_file_a_main_and_documented_params():
    for demo in DEMOS.values():
        assert demo.path.is_file()
        assert re.search(r"^def main\(", demo.source(), re.M), demo.id
        assert len(demo.description.split(". ")) >= 2, f"{demo.id}: explain in 2-3 sentences"
        for p in demo.params:
            assert p.help, (demo.id, p.name)
            if p.type == "choice":
                assert p.default in p.choices
                if p.name == "variant" and demo.variant_files:
                    assert set(demo.variant_files) == set(p.choices)
                    continue
            else:
                assert p.min is not None and p.max is not None, (demo.id, p.name)
                assert p.min <= p.default <= p.max
            for variant in demo.variant_files or [None]:
                source = demo.source({"variant": variant})
                assert f"{p.name}=" in source, (demo.id, variant, p.name)


def test_ruff_is_clean():
    # Without its cache: a cached verdict outlived a change of what counts as first-party.
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "app",
                             "demos", "tests", "benchmarks"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
