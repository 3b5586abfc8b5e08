"""Drain jobs/s and Redis CPU per job for one queue on one Redis with 1, 2, 4 ... worker processes (the
`--processes` rows of the scaling table), using `scaling.scenario` (same method: fill, then drain with the
processes started together; server CPU from INFO cpu).

    python benchmarks/processes_scaling.py redis://127.0.0.1:7490 [--procs 1,2,4] [--n 20000] [--rounds 3]

Rounds run the process counts in turns (1, 2, 4, 1, 2, 4, ...) so load from elsewhere spreads over all;
each cell is the median.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scaling import scenario


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url", help="one Redis (redis://...)")
    ap.add_argument("--procs", default="1,2,4", help="process counts, comma-separated")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    counts = [int(x) for x in a.procs.split(",")]
    results: dict[int, list[dict[str, float]]] = {p: [] for p in counts}
    for _ in range(a.rounds):
        for procs in counts:
            results[procs].append(scenario(a.url, 1, 1, a.n, procs, a.concurrency))
    columns = list(results[counts[0]][0])
    print(f"n={a.n}, concurrency {a.concurrency} per process, median of {a.rounds}, {os.cpu_count()} cores")
    print("| worker processes | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for procs, runs in results.items():
        cells = [f"{sorted(r[c] for r in runs)[len(runs) // 2]:,.1f}" for c in columns]
        print(f"| {procs} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
