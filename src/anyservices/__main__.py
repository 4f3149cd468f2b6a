"""``python -m anyservices demo|health|s3|worker|info|dlq``."""

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
    _add_s3_commands(commands)
    options = parser.parse_args(argv)
    if options.command in {"worker", "info", "dlq"}:
        return _queue_command(options)
    if options.command == "s3":
        return _s3_command(options.action, options.object, options.path, options.bucket)
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


def _add_s3_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s3 = commands.add_parser(
        "s3",
        help="upload or download one object (ANYSERVICES_MINIO_* variables), with a progress bar",
    )
    s3.add_argument("action", choices=["upload", "download"])
    s3.add_argument("object", help="the object's name")
    s3.add_argument("path", help="the local file to upload, or to download to")
    s3.add_argument("--bucket", help="default: ANYSERVICES_MINIO_DEFAULT_BUCKET")


def _s3_command(action: str, object_name: str, path: str, bucket: str | None) -> int:
    """One transfer with a progress bar (plain lines on stderr when it is not a terminal);
    exit 0 when done, 1 when it failed (one line on stderr), 2 when S3 is not configured."""
    import os  # noqa: PLC0415 -- keep `--help` fast

    import anyio  # noqa: PLC0415
    from pydantic import ValidationError  # noqa: PLC0415

    from ._core._errors import AnyServicesError  # noqa: PLC0415
    from ._progress import progress_bar  # noqa: PLC0415
    from .minio import MinioConfig, MinioService  # noqa: PLC0415

    if "ANYSERVICES_MINIO_ENDPOINT" not in os.environ:
        sys.stderr.write("S3 is not configured: set ANYSERVICES_MINIO_ENDPOINT (docs/minio.md)\n")
        return 2

    async def transfer() -> None:
        async with MinioService(MinioConfig.from_env()) as minio:
            with progress_bar(f"{action} {object_name}") as progress:
                if action == "upload":
                    await minio.upload_file(
                        object_name, path, bucket_name=bucket, progress=progress
                    )
                else:
                    await minio.download_file(
                        object_name, path, bucket_name=bucket, progress=progress
                    )

    try:
        anyio.run(transfer)
    except (AnyServicesError, OSError, ValidationError) as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"{action} failed: {type(exc).__name__}: {message}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
