"""PROTOCOL.md must stay true of minisock, byte for byte.

1. Every generated block of PROTOCOL.md equals what ``docs/transcripts.py`` produces from a
   fresh run (and every generator has a block, and every block a generator).
2. The curl walkthrough: its requests, sent to a real server on 127.0.0.1, get the answers the
   document prints; where bash and curl exist, the documented commands themselves are run.
3. Section 9 names every HTTP status, Engine.IO error code, close code and CONNECT_ERROR
   message that minisock's source can produce, so a new error path cannot go undocumented.

When (1) fails, run ``python docs/transcripts.py`` and read the diff of PROTOCOL.md.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

from minisock.proto.route import ErrorCode
from minisock.proto.ws import CloseCode
from minisock.testing import running_server

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "PROTOCOL.md"
SOURCE = ROOT / "minisock"
REGENERATE = "PROTOCOL.md is out of date: run `python docs/transcripts.py` and review the diff"


def _load_transcripts() -> ModuleType:
    """``docs/transcripts.py``, imported from its path (docs/ is not a package)."""
    name = "minisock_docs_transcripts"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "transcripts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


transcripts = _load_transcripts()
render_all: Callable[[], dict[str, str]] = transcripts.render_all
document_blocks: Callable[[str], dict[str, str]] = transcripts.document_blocks
parse_curl: Callable[[str], list[tuple[str, str]]] = transcripts.parse_curl
CURL_STEPS: Sequence[Any] = transcripts.CURL_STEPS


def document() -> str:
    return DOCUMENT.read_text("utf-8")


# ---------------------------------------------------------------- 1. transcripts


def test_every_transcript_matches_a_fresh_run() -> None:
    expected = render_all()
    found = document_blocks(document())
    assert sorted(found) == sorted(expected), REGENERATE
    for name, text in expected.items():
        assert found[name] == text, f"block {name!r} differs. {REGENERATE}"


def test_every_transcript_line_is_labelled_with_its_direction() -> None:
    for name, text in document_blocks(document()).items():
        if name.startswith("errors-") or name in ("curl", "accept-key"):
            continue  # tables, a terminal session and a Python session
        lines = text.splitlines()[1:-1]  # inside the ``` fence
        for line in lines:
            assert (
                not line
                or re.match(r"^( *\+\d+\.\d{3}s )?(C→S|S→C)", line)
                or line.startswith("(bytes")
            ), f"{name}: unlabelled line {line!r}"


# ---------------------------------------------------------------- 2. the curl walkthrough


def _curl_block() -> list[tuple[str, str]]:
    body = document_blocks(document())["curl"]
    inner = body.removeprefix("```text\n").removesuffix("\n```")
    return parse_curl(inner)


def test_the_walkthrough_shows_the_shared_steps() -> None:
    documented = [command for command, _ in _curl_block()]
    assert documented == [step.command for step in CURL_STEPS], REGENERATE


async def test_the_walkthrough_answers_come_from_a_real_server() -> None:
    """Each documented request, over TCP to 127.0.0.1, gets the documented answer."""
    answers = [answer for _, answer in _curl_block()]
    server = transcripts.echo_engine()
    with trio.fail_after(5):
        async with running_server(server) as port:
            eio_sid = ""
            for step, documented in zip(CURL_STEPS, answers, strict=True):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                peer = transcripts.Peer(stream)
                await peer.send(step.request(eio_sid, f"127.0.0.1:{port}"))
                reply = await peer.read_response()
                await peer.aclose()
                if not eio_sid:
                    eio_sid = reply.text.split('"')[3]
                shown = step.shown(reply).replace(eio_sid, "<eio#1>")
                assert shown == documented, f"answer to {step.command!r} changed. {REGENERATE}"


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None, reason="needs bash and curl"
)
async def test_the_walkthrough_commands_run_as_printed() -> None:
    """The documented shell commands themselves, with only the port changed."""
    server = transcripts.echo_engine()
    with trio.fail_after(5):
        async with running_server(server) as port:
            eio_sid = ""
            for command, documented in _curl_block():
                line = command.replace("localhost:3000", f"localhost:{port}")
                env = {**os.environ, "SID": eio_sid}
                done = await trio.run_process(["bash", "-c", line], capture_stdout=True, env=env)
                printed = done.stdout.decode("utf-8").replace("\r\n", "\n")
                if not eio_sid:
                    eio_sid = printed.split('"sid":"')[1].split('"')[0]
                assert printed.replace(eio_sid, "<eio#1>") == documented, command


# ---------------------------------------------------------------- 3. every error is in section 9


def _section_9() -> str:
    text = document()
    start = text.index("## 9. Every error minisock answers with")
    return text[start : text.index("## 10.", start)]


def _source() -> str:
    return "\n".join(path.read_text("utf-8") for path in sorted(SOURCE.rglob("*.py")))


def _statuses_in_source() -> set[int]:
    """Every HTTP error status written as a literal where minisock answers or refuses."""
    patterns = [
        r"respond_json\(\s*(\d{3})",
        r"Reject\(\s*(\d{3})",
        r"http_status\s*=\s*(\d{3})",
        r"http_status\s*==\s*(\d{3})",
        r"return\s+(\d{3}),\s*f?\"",
        r"Response\.json\([^\n]*,\s*(\d{3})\)",
    ]
    found = {int(m) for pattern in patterns for m in re.findall(pattern, _source())}
    return {status for status in found if status >= 400}


def test_section_9_lists_every_http_status_minisock_can_send() -> None:
    section = _section_9()
    statuses = _statuses_in_source() | {400, 401, 403, 404, 413, 431, 503}
    statuses.add(431)  # h11's own hint for a head it cannot finish within the size limit
    missing = sorted(s for s in statuses if f"`{s}`" not in section)
    assert not missing, f"section 9 of PROTOCOL.md lacks HTTP {missing}"


def test_section_9_lists_every_literal_refusal_message() -> None:
    """Every fixed ``message`` minisock writes into a refusal body is shown in section 9."""
    section = _section_9()
    source = "\n".join(
        (SOURCE / name).read_text("utf-8")
        for name in ("engine.py", "_polling.py", "_http.py", "_websocket.py", "proto/route.py")
    )
    messages = set(re.findall(r'"message":\s*"([^"]+)"', source))
    messages |= set(re.findall(r"Reject\(\s*\d{3},\s*ErrorCode\.\w+,\s*\"([^\"]+)\"", source))
    assert {"Not found", "Server shutting down", "Origin not allowed"} <= messages
    missing = sorted(m for m in messages if f'"message":"{m}' not in section)
    assert not missing, f"section 9 of PROTOCOL.md lacks refusals {missing}"


def test_section_9_lists_every_engineio_error_code() -> None:
    section = _section_9()
    for code in ErrorCode:
        assert f'`{{"code":{int(code)},' in section, f"no answer with code {int(code)}"


def test_section_9_lists_every_close_code_minisock_can_send() -> None:
    section = _section_9()
    names = set(re.findall(r"CloseCode\.([A-Z_]+)", _source()))
    used = {int(CloseCode[name]) for name in names if name in CloseCode.__members__}
    # Codes that only describe a close locally are never sent (RFC 6455 §7.4.1).
    used -= {int(CloseCode.NO_STATUS), int(CloseCode.ABNORMAL), int(CloseCode.TLS_HANDSHAKE)}
    used |= {1000, 1001, 1002, 1007, 1008, 1009}
    missing = sorted(code for code in used if f"close `{code}`" not in section)
    assert not missing, f"section 9 of PROTOCOL.md lacks close codes {missing}"


def test_section_9_lists_every_connect_error_message() -> None:
    section = _section_9()
    client = (SOURCE / "_client.py").read_text("utf-8")
    literal = r"(?:_refuse\([^,\n]+,|refusal\s*=\s*\()\s*\"([^\"]+)\""
    messages = set(re.findall(literal, client))
    assert {"Invalid namespace", "Internal server error", "unauthorized"} <= messages
    for message in messages:
        assert f'{{"message":"{message}"' in section, f"no CONNECT_ERROR {message!r}"
    assert '"data":{"role":"guest"}' in section  # a middleware's own message and data


def test_protocol_md_lists_every_token_refusal_reason() -> None:
    auth = (SOURCE / "auth.py").read_text("utf-8")
    reasons = set(re.findall(r"TokenError\(\s*\"([a-z_]+)\"", auth))
    assert {"missing", "expired", "bad_signature"} <= reasons
    text = document()
    missing = sorted(reason for reason in reasons if f"`{reason}`" not in text)
    assert not missing, f"PROTOCOL.md section 8 lacks token reasons {missing}"
