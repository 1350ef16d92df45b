"""`coroscope run SCRIPT`: the script runs exactly as under `python`, and is traced."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from .conftest import ROOT, validate_trace


def run_both(tmp_path, source: str, *args: str, stdin: str = ""):
    """Run a script under python and under coroscope run; return both results and the trace."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(source))
    plain = subprocess.run([sys.executable, "prog.py", *args], cwd=tmp_path, input=stdin,
                           capture_output=True, text=True, timeout=60)
    traced = subprocess.run([sys.executable, "-m", "app", "run", "--out", "t.json", "prog.py",
                             *args], cwd=tmp_path, input=stdin, capture_output=True, text=True,
                            timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                 "COROSCOPE_DATA_DIR": str(tmp_path / "history")})
    trace = json.loads((tmp_path / "t.json").read_text())
    validate_trace(trace)
    return plain, traced, trace


def test_argv_name_cwd_and_stdin_are_those_of_python(tmp_path):
    plain, traced, trace = run_both(tmp_path, """
        import os, sys
        print(sys.argv, __name__, os.path.basename(os.getcwd()))
        print('read:', sys.stdin.read().strip())
    """, "a", "--flag", "b c", stdin="hello\n")
    assert traced.returncode == plain.returncode == 0
    assert traced.stdout == plain.stdout
    assert plain.stdout.startswith("['prog.py', 'a', '--flag', 'b c'] __main__ ")
    assert [e["text"] for e in trace["events"] if e["kind"] == "stdout"] == \
        plain.stdout.splitlines()
    assert trace["run"]["script"] == {"argv": ["prog.py", "a", "--flag", "b c"], "exit_code": 0}
    assert trace["run"]["demo"] is None and trace["run"]["source"]["file"] == "prog.py"


def test_monkey_patched_script_switches_through_the_hub(tmp_path):
    plain, traced, trace = run_both(tmp_path, """
        from gevent import monkey; monkey.patch_all()
        import time, gevent
        def work(n):
            time.sleep(0.05 * n)
            print('done', n)
        gevent.joinall([gevent.spawn(work, n) for n in (2, 1)])
    """)
    assert traced.stdout == plain.stdout == "done 1\ndone 2\n"
    names = {t["id"]: t["name"] for t in trace["tasks"]}
    assert sorted(names.values()) == ["Hub", "main", "work", "work"]
    assert not any(e["kind"] == "block" for e in trace["events"])
    assert sum(1 for e in trace["events"] if e["kind"] == "switch"
               and names[e["to"]] == "Hub") >= 4


def test_a_raising_script_keeps_its_traceback_and_exit_code(tmp_path):
    plain, traced, trace = run_both(tmp_path, """
        def f():
            raise KeyError('missing')
        print('before')
        f()
    """)
    assert traced.returncode == plain.returncode == 1
    assert traced.stdout == plain.stdout == "before\n"
    assert traced.stderr.startswith(plain.stderr)  # then coroscope's one-line summary
    assert plain.stderr.strip().endswith("KeyError: 'missing'")
    assert trace["run"]["status"] == "error"
    assert trace["run"]["error"] == plain.stderr
    assert trace["run"]["script"]["exit_code"] == 1


def test_sys_exit_code_passes_through(tmp_path):
    plain, traced, trace = run_both(tmp_path, """
        import sys
        print('bye')
        sys.exit(3)
    """)
    assert traced.returncode == plain.returncode == 3
    assert trace["run"]["status"] == "error"
    assert trace["run"]["error"] == "exit code 3 (SystemExit(3))"
    assert trace["run"]["script"]["exit_code"] == 3


def test_missing_script_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "run", "nope.py"], cwd=tmp_path,
                            capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "COROSCOPE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "no such script: nope.py" in result.stderr
