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
    options = parser.parse_args(argv)
    if options.command == "health":
        from .health import main as health_main  # noqa: PLC0415 -- keep `--help` fast

        return health_main(deadline=options.deadline)
    from ._demo import run_demo  # noqa: PLC0415 -- keep `--help` fast

    # "demo": argparse accepts no other command
    return run_demo(
        faces=options.face or ["asyncio", "trio", "sync"], start_servers=not options.no_start
    )


if __name__ == "__main__":
    sys.exit(main())
