"""Command line: ``python -m minisock trace SCRIPT [ARGS...]``.

Runs an example (or any script that starts a minisock server) with the wire tracer printing
every packet on stderr, one compact line each (``--trace-format full``: the long form, raw
bytes and meaning). ``--show-sids`` shows real Engine.IO and Socket.IO sids instead of
aliases; ``--trace-width`` bounds how much of each packet is shown.
"""

from __future__ import annotations

import argparse
import runpy
import sys

from minisock import trace
from minisock.proto.wire_notation import DEFAULT_WIDTH


def _width(text: str) -> int:
    width = int(text)
    if not 20 <= width <= 100_000:
        raise argparse.ArgumentTypeError("the width must be between 20 and 100000")
    return width


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m minisock", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    tracer = commands.add_parser("trace", help="run a script with the wire tracer on")
    tracer.add_argument("--show-sids", action="store_true", help="do not alias sids")
    tracer.add_argument(
        "--trace-format",
        choices=["compact", "full"],
        default="compact",
        help="compact: one line per packet (default); full: raw bytes and meaning too",
    )
    tracer.add_argument(
        "--trace-width",
        type=_width,
        default=DEFAULT_WIDTH,
        metavar="CHARS",
        help=f"characters of a packet shown in the compact format (default {DEFAULT_WIDTH})",
    )
    tracer.add_argument("script", help="a Python file, e.g. examples/engineio_echo.py")
    tracer.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    options = parser.parse_args(argv)
    trace.enable(
        show_sids=options.show_sids, trace_format=options.trace_format, width=options.trace_width
    )
    sys.argv = [options.script, *options.args]
    runpy.run_path(options.script, run_name="__main__")


if __name__ == "__main__":
    main()
