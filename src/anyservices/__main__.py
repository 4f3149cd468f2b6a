"""``python -m anyservices demo|health``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anyservices")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the demo on asyncio, trio and the sync face")
    demo.add_argument(
        "--face",
        action="append",
        choices=["asyncio", "trio", "sync"],
        help="run on this face only (repeatable; default: all three)",
    )
    demo.add_argument(
        "--no-start",
        action="store_true",
        help="never start local servers; use only the configured ones",
    )
    health = commands.add_parser(
        "health",
        help="check every configured service (ANYSERVICES_* variables) at once; "
        "exit 1 if one is down",
    )
    health.add_argument(
        "--deadline",
        type=float,
        default=5.0,
        help="seconds each service has to answer (default: 5)",
    )
    health.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (per service: ok, reason, elapsed_ms, target) "
        "instead of the table; same exit codes",
    )
    _add_queue_commands(commands)
    options = parser.parse_args(argv)
    if options.command in {"worker", "info", "dlq"}:
        return _queue_command(options)
    if options.command == "health":
        from .health import main as health_main  # noqa: PLC0415 -- keep `--help` fast

        return health_main(deadline=options.deadline, as_json=options.json)
    from ._demo import run_demo  # noqa: PLC0415 -- keep `--help` fast

    # "demo": argparse accepts no other command
    return run_demo(
        faces=options.face or ["asyncio", "trio", "sync"], start_servers=not options.no_start
    )


def _add_queue_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    target = "package.module:attribute naming a QueueService (with its tasks) or a Worker"
    worker = commands.add_parser("worker", help="run a job-queue worker until SIGTERM/SIGINT")
    worker.add_argument("target", help=target)
    worker.add_argument("--concurrency", type=int, help="jobs run at once (default: 16)")
    worker.add_argument("--burst", action="store_true", help="stop once no job is waiting")
    worker.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    info = commands.add_parser("info", help="show a job queue's health")
    info.add_argument("target", help=target)
    dlq = commands.add_parser("dlq", help="list or requeue a job queue's dead letters")
    dlq.add_argument("action", choices=["list", "requeue"])
    dlq.add_argument("target", help=target)
    dlq.add_argument("entry_ids", nargs="*", help="dead letters to requeue (default: all)")


def _queue_command(options: argparse.Namespace) -> int:
    from .queue import _cli  # noqa: PLC0415 -- keep `--help` fast

    if options.command == "worker":
        return _cli.worker_main(
            options.target,
            concurrency=options.concurrency,
            burst=options.burst,
            backend=options.backend,
        )
    if options.command == "info":
        return _cli.info_main(options.target)
    return _cli.dlq_main(options.target, options.action, options.entry_ids)


if __name__ == "__main__":
    sys.exit(main())
