"""Job queue: enqueue N no-op jobs (32 at a time), then one worker process at concurrency 32
drains them; the same with sleeping jobs. Ours on asyncio and trio against streaq, SAQ,
arq and taskiq, each installed in its own virtualenv, on the same Redis, in interleaved
rounds (median).

    python benchmarks/bench_queue.py [--jobs 20000] [--sleep-jobs 2000] [--sleep 0.1]
                                     [--rounds 3] [--install]

Peers live in ``$QUEUE_PEERS_DIR`` (default /tmp/anyservices-queue-peers); ``--install``
creates them with uv (versions from ../shared QUEUE_PEERS.md). A missing peer is skipped.
SAQ's burst worker waits ``dequeue_timeout`` (1 s, its minimum) before it stops: that
second is in its drain time. streaq enqueues with one ``enqueue_many`` (as its own
benchmark does); taskiq has no burst mode, so its drain is timed until every job ran.
``--delayed N`` also runs queue_peers/delayed_ours.py (N delayed jobs under 10 s, 2
worker processes) and ``--latency N`` queue_peers/latency_ours.py (N jobs one at a time
on an idle worker: enqueue-to-start), both backends interleaved, ``--rounds`` times.
``--peers streaq,taskiq`` runs only those peers. The CPU column is the round's process
(and its children) CPU seconds, import and start-up included: steadier than wall time
on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent / "queue_peers"
PEERS_DIR = Path(os.environ.get("QUEUE_PEERS_DIR", "/tmp/anyservices-queue-peers"))
PEERS = {
    "streaq": ["streaq==7.2.0"],
    "saq": ["saq[redis]==0.26.4", "typing_extensions"],
    "arq": ["arq==0.28.0"],
    "taskiq": ["taskiq==0.13.0", "taskiq-redis==1.2.4"],
}
URL = os.environ.get("ANYSERVICES_REDIS_URL", "redis://127.0.0.1:6390/0")


def install() -> None:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    for name, packages in PEERS.items():
        venv = PEERS_DIR / name
        if not (venv / "bin" / "python").exists():
            subprocess.run([uv, "venv", "-q", "-p", "3.11", str(venv)], check=True)
            subprocess.run(
                [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *packages],
                check=True,
            )


def contenders(peers: list[str]) -> dict[str, list[str]]:
    found = {
        "anyservices (asyncio)": [sys.executable, str(HERE / "bench_ours.py"), "{url}", "{jobs}",
                                  "{sleep}", "asyncio"],
        "anyservices (trio)": [sys.executable, str(HERE / "bench_ours.py"), "{url}", "{jobs}",
                               "{sleep}", "trio"],
    }  # fmt: skip
    for name in peers:
        python = PEERS_DIR / name / "bin" / "python"
        if python.exists():
            found[name] = [
                str(python),
                str(HERE / f"bench_{name}.py"),
                "{url}",
                "{jobs}",
                "{sleep}",
            ]
        else:
            print(f"skipping {name}: no {python} (run with --install)")
    return found


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_json(args: list[str]) -> dict[str, float]:
    """Run one script; the JSON its last line prints, with the CPU seconds it used."""
    before = _cpu()
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=1800)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "cpu": _cpu() - before}


def one_round(command: list[str], jobs: int, pause: float) -> dict[str, float]:
    return run_json([part.format(url=URL, jobs=jobs, sleep=pause) for part in command])


def ours(script: str, jobs: int, rounds: int, extra: list[str], keys: list[str]) -> None:
    """One of our scripts on both backends, interleaved; the median of each figure."""
    runs: dict[str, list[dict[str, float]]] = {"asyncio": [], "trio": []}
    for _ in range(rounds):
        for backend, results in runs.items():
            args = [sys.executable, str(HERE / script), URL, str(jobs), *extra, backend]
            results.append(run_json(args))
    for backend, results in runs.items():
        medians = {key: statistics.median(r[key] for r in results) for key in keys}
        print(f"{script} ({backend}, median of {rounds}): {json.dumps(medians)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--sleep-jobs", type=int, default=2_000)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--delayed", type=int, default=0, help="delayed jobs (0: skip)")
    parser.add_argument("--latency", type=int, default=0, help="latency jobs (0: skip)")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated")
    options, _ = parser.parse_known_args()
    if options.install:
        install()
    libraries = contenders([name for name in options.peers.split(",") if name])
    variants = [("no-op", options.jobs, 0.0)]
    if options.sleep_jobs:
        variants.append((f"sleep({options.sleep:g})", options.sleep_jobs, options.sleep))
    for variant, jobs, pause in variants:
        times: dict[str, list[dict[str, float]]] = {name: [] for name in libraries}
        for _ in range(options.rounds):  # interleaved: every library once per round
            for name, command in libraries.items():
                times[name].append(one_round(command, jobs, pause))
        print(f"\n{jobs} {variant} jobs, 1 worker at concurrency 32, median of "
              f"{options.rounds} rounds (seconds)")  # fmt: skip
        print("| library | enqueue | drain | CPU |\n|---|---|---|---|")
        for name, runs in times.items():
            enqueue = statistics.median(r["enqueue"] for r in runs)
            drain = statistics.median(r["drain"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            print(f"| {name} | {enqueue:.2f} | {drain:.2f} | {cpu:.2f} |")
    if options.delayed:
        keys = ["p50_ms", "p99_ms", "max_ms", "bad", "enqueue_seconds"]
        ours("delayed_ours.py", options.delayed, options.rounds, ["10", "2"], keys)
    if options.latency:
        keys = ["p50_ms", "p99_ms", "max_ms"]
        ours("latency_ours.py", options.latency, options.rounds, [], keys)


if __name__ == "__main__":
    main()
