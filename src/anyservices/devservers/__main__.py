"""``python -m anyservices.devservers start|env|stop|status [--only redis,mongo]``.

``start`` and ``env`` print ``export`` lines on stdout, so that
``eval "$(python -m anyservices.devservers start)"`` works; progress goes to stderr.
Exit status: 0 when everything asked for is up (``stop``: always), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from . import SERVERS, DevServerError, ensure_started, env, format_exports, status, stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m anyservices.devservers",
        description="Install, start, check and stop real local servers (no Docker).",
    )
    parser.add_argument("command", choices=["start", "env", "stop", "status"])
    parser.add_argument("--only", metavar="NAMES", help=f"comma-separated: {','.join(SERVERS)}")
    options = parser.parse_args(argv)
    only = options.only.split(",") if options.only else None
    try:
        return _run(options.command, only)
    except (DevServerError, ValueError) as error:
        print(f"devservers: {options.command} failed:\n{error}", file=sys.stderr)
        if options.command == "start" and isinstance(error, DevServerError):
            sys.stdout.write(format_exports(env(only)))  # what did come up is still usable
        return 1


def _run(command: str, only: list[str] | None) -> int:
    if command == "start":
        sys.stdout.write(format_exports(ensure_started(only)))
    elif command == "env":
        sys.stdout.write(format_exports(env(only)))
    elif command == "stop":
        print("stopped:", ", ".join(stop(only)) or "nothing (no server started here is running)")
    else:
        lines = status(only)
        for name, line in lines.items():
            print(f"{name:12} {line}")
        return 0 if all(line.startswith("up") for line in lines.values()) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
