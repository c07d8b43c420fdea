"""How much memory a web worker holds under load: peak resident memory during a throughput run against the
same worker's once it is warm.

Set-up and load as bench/throughput.py (gunicorn with two sync workers on PostgreSQL over loopback, client
threads completing contacts' decisions over HTTP), for DURATION seconds (default 60, longer than the
throughput run so that a slow leak has time to show).

Baseline, in the same run: each worker's resident memory (VmRSS) once warm, that is once it has served the
whole completion path (the clients have signed in and a few untimed completions have gone through, so the
templates are compiled and the flows parsed, which happen once per worker whatever the load). Measured: the
most the worker was resident during the run (VmHWM from /proc/<pid>/status). R is the worse worker's peak
over its warm figure. Also printed: the figures after the clients signed in (the workers' first requests),
and how the workers' memory moved with the completions over the second half of the run: a leak shows as a
steady growth per completion; memory that levels off is the allocator keeping what it once needed. A
minute's run still shows some of that settling in: DURATION=600 tells the two apart.

Prints the figures and `memory: ratio R (target <= 1.5)`. Run: make bench.
"""

from __future__ import annotations

import os

import _server as server

DURATION = float(os.environ.get("DURATION", "60"))


def growth_per_completion(samples: list[tuple[int, int]]) -> float:
    """kB per completion over the second half of the run, by least squares: the first half is left out as
    the allocator's settling in."""
    later = samples[len(samples) // 2 :]
    if len(later) < 2:
        return float("nan")
    mean_x = sum(x for x, _ in later) / len(later)
    mean_y = sum(y for _, y in later) / len(later)
    spread = sum((x - mean_x) ** 2 for x, _ in later)
    return sum((x - mean_x) * (y - mean_y) for x, y in later) / spread if spread else float("nan")


def main() -> None:
    app = server.make_app()
    server.fill_database(app)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run")
    measured = server.measure(app, DURATION)

    run = measured.run
    print(
        f"HTTP, gunicorn {server.WORKERS} sync workers: {run.completions} completions in {run.seconds:.0f} s"
        f"{' (the cases ran out; set CASES higher)' if run.ran_out else ''}"
    )
    worst = 0.0
    for n, pid in enumerate(sorted(measured.warm_rss), start=1):
        warm, peak = measured.warm_rss[pid], measured.peak_rss[pid]
        worst = max(worst, peak / warm)
        print(
            f"worker {n}: after sign-in {measured.signed_in_rss[pid] / 1024:.1f} MB,"
            f" warm {warm / 1024:.1f} MB, peak in the run {peak / 1024:.1f} MB,"
            f" at the end {measured.end_rss[pid] / 1024:.1f} MB"
        )
    first, last = measured.samples[0], measured.samples[-1]
    print(
        f"both workers: {first[1] / 1024:.1f} MB after {first[0]} completions, {last[1] / 1024:.1f} MB after"
        f" {last[0]}; over the second half {growth_per_completion(measured.samples):.1f} kB per completion"
    )
    print(f"memory: ratio {worst:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
