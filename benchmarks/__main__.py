"""``python -m benchmarks [--quick]``: every figure as ``name: value unit (ratio ...)``."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def report(name: str, value: float, unit: str, note: str = "") -> None:
    print(f"{name}: {value:.3g} {unit}" + (f" ({note})" if note else ""), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (smoke test)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only these groups: tracer, relay, browser")
    args = parser.parse_args()
    print(f"# coroscope benchmarks on {platform.python_implementation()} "
          f"{platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}",
          flush=True)
    start = time.perf_counter()
    groups = args.only or ["tracer", "relay", "browser"]
    if "tracer" in groups:
        from . import tracer

        tracer.run(report, quick=args.quick)
    if "relay" in groups:
        from . import relay

        relay.run(report, quick=args.quick)
    if "browser" in groups:
        from . import browser

        browser.run(report, quick=args.quick)
    print(f"# total {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
