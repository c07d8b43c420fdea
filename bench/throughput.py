"""How many task completions a small deployment serves: gunicorn with two sync workers on PostgreSQL over loopback.

Set-up: a database of its own (BENCH_DATABASE_URL, default compass_bench_throughput on the local PostgreSQL,
made when missing, emptied at each run), filled through the app's services: the shipped flows, the demo users,
and many cases recorded from the "below threshold advice" scenario's contact (each about a child of its own)
and reviewed, each waiting on its senior social worker's decision.

Measured: CLIENTS threads (default 4, two per worker), each signed in as demo.ssw with its own session, once
a few untimed completions have warmed the workers, for DURATION seconds (default 30) take the next case and
complete its decision over HTTP: open the task page for the form's CSRF token, post the decision, get the
redirect to the case. Reported: completions per second, the gunicorn processes' CPU per completion (user +
system, from /proc), the PostgreSQL backends' CPU per completion, and the clients' own CPU (to show they were
not what held the server back).

Baseline, in the same run: the same decisions completed in this process by the service alone
(app.services.workflow.complete_task: restore, complete, save, mirror, audit, outbox, commit) one after
another on the same database, half before the server starts and half after it stops. It leaves out the
web's share: the task page (its queries, its form, recording that it was viewed) and the post's sign-in
check, session, CSRF and form parsing. R is that rate over the HTTP rate per worker, so R = 1 would mean the
web costs nothing and two workers do twice the work of one; R above 1 is the web's share plus whatever two
workers lose sharing the machine with PostgreSQL, the clients and anything else running. On a machine busy
with other work R moves with that work; the web's CPU over the service's, printed too, hardly does.

Prints the figures, `throughput: N completions/s (CPU X ms per completion)` and
`throughput: ratio R (target <= 3)`. Run: make bench (DURATION, CLIENTS, CASES and BASELINE change the run).
"""

from __future__ import annotations

import os
import statistics

import _server as server

DURATION = float(os.environ.get("DURATION", "30"))
BASELINE = int(os.environ.get("BASELINE", "80"))


def main() -> None:
    app = server.make_app()
    server.fill_database(app)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run")
    baseline = server.cases_waiting_for_a_decision(app, BASELINE)
    first = server.in_process(app, baseline[: BASELINE // 2])
    measured = server.measure(app, DURATION)
    second = server.in_process(app, baseline[BASELINE // 2 :])

    base_seconds, base_cpu, base_database = (a + b for a, b in zip(first, second, strict=True))
    base_rate = BASELINE / base_seconds
    run = measured.run
    rate = run.completions / run.seconds
    per = 1000 / run.completions
    latencies = sorted(run.latencies)
    print(
        f"in-process service, one thread: {BASELINE} completions, {base_rate:.1f}/s;"
        f" CPU per completion {base_cpu * 1000 / BASELINE:.1f} ms here, {base_database * 1000 / BASELINE:.1f} ms"
        " in PostgreSQL"
    )
    print(
        f"HTTP, gunicorn {server.WORKERS} sync workers, {server.CLIENTS} clients: {run.completions} completions"
        f" in {run.seconds:.1f} s{' (the cases ran out; set CASES higher)' if run.ran_out else ''}"
    )
    print(
        f"  per completion (task page + post): median {statistics.median(latencies) * 1000:.0f} ms,"
        f" p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms"
    )
    print(
        f"  CPU per completion: gunicorn {measured.gunicorn_cpu * per:.1f} ms,"
        f" PostgreSQL {measured.database_cpu * per:.1f} ms, clients {measured.client_cpu * per:.1f} ms;"
        f" load average {measured.load:.1f} at the end"
    )
    over = measured.gunicorn_cpu * per / (base_cpu * 1000 / BASELINE)
    print(
        f"  the web's CPU per completion over the service's: {over:.2f} (this one hardly depends on the machine's load)"
    )
    print(f"throughput: {rate:.1f} completions/s (CPU {measured.gunicorn_cpu * per:.1f} ms per completion)")
    print(f"throughput: ratio {base_rate / (rate / server.WORKERS):.2f} (target <= 3)")


if __name__ == "__main__":
    main()
