"""Run every atheris harness for a set time, one after the other, and print a summary.

    fuzz/.venv/bin/python fuzz/run.py --seconds 60 [eio sio sio_msgpack ws handshake jwt http]

``make fuzz FUZZ_SECONDS=60`` does exactly this. Corpora grow in ``fuzz/corpus/<name>/``
(seeded by each harness on first run), findings land in ``fuzz/artifacts/``. Without atheris
the harnesses run as hypothesis loops (``--fallback``). Exit status 1 if any harness found
something: a crash file is then named in the output.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ["eio", "sio", "sio_msgpack", "ws", "handshake", "jwt", "http"]
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_FALLBACK = re.compile(r"#(\d+)\tDONE   fallback .* (\d+) runs in (\d+) s")
_COV = re.compile(r"cov: (\d+) ft: (\d+) corp: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def run_one(name: str, seconds: int, fallback: bool) -> dict[str, str]:
    script = HERE / f"fuzz_{name}.py"
    corpus = HERE / "corpus" / name
    artifacts = HERE / "artifacts"
    artifacts.mkdir(exist_ok=True)
    if fallback:
        cmd = [sys.executable, str(script), "--fallback", str(seconds)]
    else:
        cmd = [
            sys.executable,
            str(script),
            f"-max_total_time={seconds}",
            "-timeout=60",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={artifacts}/{name}-",
            str(corpus),
        ]
    log_path = artifacts / f"{name}.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.run(cmd, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    text = log_path.read_text(errors="replace")
    runs = "?"
    if match := _DONE.search(text):
        runs = match.group(1)
    elif match := _FALLBACK.search(text):
        runs = match.group(2)
    else:
        pulses = re.findall(r"^#(\d+)\t", text, re.MULTILINE)
        runs = pulses[-1] if pulses else "?"
    covs = _COV.findall(text)
    artifact = _ARTIFACT.search(text)
    rate = f"{int(runs) / max(elapsed, 1e-9):.0f}" if runs.isdigit() else "?"
    result = {
        "name": name,
        "status": "ok" if proc.returncode == 0 else f"FOUND (exit {proc.returncode})",
        "runs": runs,
        "exec/s": rate,
        "cov": covs[-1][0] if covs else "-",
        "corpus": covs[-1][2] if covs else "-",
        "seconds": f"{elapsed:.0f}",
        "finding": artifact.group(1) if artifact else "",
        "log": str(log_path),
    }
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-25:])
        print(f"--- {name}: last lines of {log_path}\n{tail}\n", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", 60)))
    parser.add_argument("--fallback", action="store_true", help="hypothesis loops, no atheris")
    parser.add_argument("targets", nargs="*", default=TARGETS)
    args = parser.parse_args()
    fallback = args.fallback or importlib.util.find_spec("atheris") is None
    if fallback and not args.fallback:
        print("atheris is not installed here: running the hypothesis fallback", flush=True)
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        sys.exit(f"unknown targets: {sorted(unknown)}; choose from {TARGETS}")
    skip = os.environ.get("FUZZ_SKIP_KNOWN")
    engine = "hypothesis fallback" if fallback else "atheris"
    print(f"{engine}, {args.seconds} s per harness; FUZZ_SKIP_KNOWN={skip or '(none)'}")
    results = []
    for name in args.targets:
        print(f"fuzz_{name}: running for {args.seconds} s ...", flush=True)
        results.append(run_one(name, args.seconds, fallback))
    columns = ["name", "status", "runs", "exec/s", "cov", "corpus", "seconds", "finding"]
    widths = {c: max(len(c), *(len(r[c]) for r in results)) for c in columns}
    print()
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in results:
        print("  ".join(r[c].ljust(widths[c]) for c in columns))
    if any(r["status"] != "ok" for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
