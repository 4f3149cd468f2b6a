"""``python -m anyservices.devservers start|env|stop|status [--only a,b]``."""

from __future__ import annotations

import argparse
import sys

from . import SERVERS, ensure_started, format_exports, status, stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anyservices.devservers")
    parser.add_argument("command", choices=["start", "env", "stop", "status"])
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SERVERS)}")
    options = parser.parse_args(argv)
    only = options.only.split(",") if options.only else None
    if options.command == "start":
        sys.stdout.write(format_exports(ensure_started(only)))
    elif options.command == "env":
        env: dict[str, str] = {}
        for name, up in status(only).items():
            if up and not SERVERS[name].configured():
                env.update(SERVERS[name].env())
        sys.stdout.write(format_exports(env))
    elif options.command == "stop":
        print("stopped:", ", ".join(stop(only)) or "nothing")
    else:
        for name, up in status(only).items():
            print(f"{name:12} {'up' if up else 'down'}  port {SERVERS[name].port}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
