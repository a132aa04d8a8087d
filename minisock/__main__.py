"""Command line: ``python -m minisock trace SCRIPT [ARGS...]``.

Runs an example (or any script that starts a minisock server) with the wire tracer printing
every packet on stderr. ``--show-sids`` shows real Engine.IO sids instead of aliases.
"""

from __future__ import annotations

import argparse
import runpy
import sys

from minisock import trace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m minisock", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tracer = commands.add_parser("trace", help="run a script with the wire tracer on")
    tracer.add_argument("--show-sids", action="store_true", help="do not alias Engine.IO sids")
    tracer.add_argument("script", help="a Python file, e.g. examples/engineio_echo.py")
    tracer.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    options = parser.parse_args(argv)
    trace.enable(show_sids=options.show_sids)
    sys.argv = [options.script, *options.args]
    runpy.run_path(options.script, run_name="__main__")


if __name__ == "__main__":
    main()
