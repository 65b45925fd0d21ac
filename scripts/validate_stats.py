"""Validate the report's statistics by seeded simulation (a benchmark, not a test).

Prints, per check, the target, the observed rate and its Monte Carlo standard error: test
sizes, interval coverage (success and skewed infra errors, per profile and paired), TOST size
at the margin, false band recommendations, the primary family's error, `compare` exits on two
runs of one truth, and the power `harness power`'s printed n delivers. The fast subset of these
runs in tests/test_stats_validation.py.

    python scripts/validate_stats.py [--scale 0.25] [--quick | --grid] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from harness.report.validation import COVER, Check, all_checks, coverage_grid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the simulation counts")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--quick", action="store_true",
                       help="only the fast subset the tests run (judged, as there, within 3 MC errors)")
    which.add_argument("--grid", action="store_true",
                       help="instead of the table: infra coverage, 30–200 tasks, K 3 and 10, ρ 0 and 0.09")
    ap.add_argument("--json", action="store_true", help="print the checks as JSON on stdout")
    args = ap.parse_args()
    results: list[Check] = []
    t0 = time.perf_counter()
    for check in coverage_grid(args.scale) if args.grid else all_checks(args.scale, args.quick):
        t = time.perf_counter()
        got = check()
        for c in got if isinstance(got, list) else [got]:
            results.append(c)
            ok = c.within(3.0) if args.quick else c.ok
            # the table is the output; with --json it goes to stderr and the JSON to stdout
            print(f"{'ok  ' if ok else 'MISS'} {c.name:<78} target {c.target:<12} observed "
                  f"{c.observed * 100:6.2f} % ± {c.mc_se * 100:.2f} ({c.sims} sims, "
                  f"{time.perf_counter() - t:.0f} s)", flush=True,
                  file=sys.stderr if args.json else sys.stdout)
            if c.why:
                print(f"     {c.why}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        json.dump([c.to_json() for c in results], sys.stdout, indent=1)
        print()
    missed = [c for c in results if not (c.within(3.0) if args.quick else c.ok)]
    if args.grid:
        over = sum(c.observed > COVER[2] for c in missed)
        print(f"coverage from {min(c.observed for c in results) * 100:.1f} to "
              f"{max(c.observed for c in results) * 100:.1f} %; outside {COVER[0]}: {len(missed) - over} "
              f"below, {over} above", file=sys.stderr)
    print(f"{len(results) - len(missed)} of {len(results)} checks meet their target "
          f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
