"""PROTOCOL.md must stay true of minisock, byte for byte.

1. Every generated block of PROTOCOL.md equals what ``docs/transcripts.py`` produces from a
   fresh run (and every generator has a block, and every block a generator).
2. The curl walkthrough: its requests, sent to a real server on 127.0.0.1, get the answers the
   document prints; where dash and curl exist, the documented commands themselves run, in one
   dash shell, against ``examples/engineio_echo.py`` started as the page says.
3. Appendix B names every HTTP status, Engine.IO error code, close code and CONNECT_ERROR
   message that minisock's source can produce, so a new error path cannot go undocumented.
4. The page's structure: sections 1-11 then appendices A-C, and every internal link lands on a
   heading.

When (1) fails, run ``python docs/transcripts.py`` and read the diff of PROTOCOL.md.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import trio
from _server_process import ServerProcess

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
CURL_SERVER: str = transcripts.CURL_SERVER


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


def _aliased(text: str, sids: list[str]) -> str:
    """``text`` with each sid written as the page writes it, ``<eio#1>`` for the first seen."""
    for number, eio_sid in enumerate(sids, start=1):
        text = text.replace(eio_sid, f"<eio#{number}>")
    return text


def _learn_sid(step: Any, printed: str, sids: list[str]) -> None:
    """Note the sid a handshake step printed (the open packet, or ``$SID`` echoed)."""
    if step.keep_sid:
        sids.append(printed.strip())
    elif '"sid":"' in printed:
        sids.append(printed.split('"sid":"')[1].split('"')[0])


async def test_the_walkthrough_answers_come_from_a_real_server() -> None:
    """Each documented request, over TCP to 127.0.0.1, gets the documented answer."""
    answers = [answer for _, answer in _curl_block()]
    server = transcripts.curl_engine()
    with trio.fail_after(5):
        async with running_server(server) as port:
            sids: list[str] = []
            for step, documented in zip(CURL_STEPS, answers, strict=True):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                peer = transcripts.Peer(stream)
                await peer.send(step.request(sids[-1] if sids else "", f"127.0.0.1:{port}"))
                reply = await peer.read_response()
                await peer.aclose()
                shown = step.shown(reply)
                _learn_sid(step, shown, sids)
                assert _aliased(shown, sids) == documented, (
                    f"answer to {step.command!r} changed. {REGENERATE}"
                )


def test_the_walkthrough_starts_the_server_the_page_names() -> None:
    """The page tells the reader to start CURL_SERVER, before the commands, in a sh block."""
    text = document()
    section = text[text.index("### Try it with curl") : text.index("<!-- transcript:curl -->")]
    assert f"```sh\n{CURL_SERVER}\n```" in section
    assert "--ping-interval 600000" in CURL_SERVER
    assert '"pingInterval":600000' in document_blocks(text)["curl"]


def test_the_walkthrough_commands_suit_dash() -> None:
    """dash's printf has no ``\\x`` escapes, and the sid must come from a one-liner."""
    commands = [command for command, _ in _curl_block()]
    assert not any("\\x" in command for command in commands)
    assert any(command.startswith("SID=$(curl ") for command in commands)
    assert any("\\036" in command for command in commands)


def _run_in_dash(commands: list[str], port: int) -> list[str]:
    """Run ``commands`` one after another in a single dash shell; what each printed."""
    marker = "@@minisock-walkthrough-step@@"
    lines = []
    for command in commands:
        lines.append(f"printf '\\n{marker}\\n'")
        lines.append(command.replace("localhost:3000", f"127.0.0.1:{port}"))
    done = subprocess.run(
        ["dash", "-c", "\n".join(lines)], capture_output=True, timeout=30, check=True
    )
    printed = done.stdout.decode("utf-8").replace("\r\n", "\n")
    parts = printed.split(f"\n{marker}\n")
    assert parts[0] == "", printed
    return parts[1:]


def test_the_walkthrough_commands_run_as_printed() -> None:
    """The documented shell session, run in dash against the documented server command."""
    argv = shlex.split(CURL_SERVER)
    assert argv[:2] == ["python", "examples/engineio_echo.py"], CURL_SERVER
    port_flag = argv.index("--port")
    argv[port_flag + 1] = "0"
    server = ServerProcess([sys.executable, str(ROOT / argv[1]), *argv[2:]])
    try:
        port = server.wait_for_port()
        steps = _curl_block()
        outputs = _run_in_dash([command for command, _ in steps], port)
    finally:
        server.signal(signal.SIGTERM)
        server.wait()
    assert len(outputs) == len(steps) == len(CURL_STEPS)
    sids: list[str] = []
    for step, (command, documented), printed in zip(CURL_STEPS, steps, outputs, strict=True):
        _learn_sid(step, printed, sids)
        expected = documented + ("\n" if step.keep_sid else "")  # echo ends its line
        assert _aliased(printed, sids) == expected, command
    assert len(sids) == 2 and sids[0] != sids[1]


# ---------------------------------------------------------------- 3. every error is in appendix B


def _appendix_b() -> str:
    """Appendix B, the error table."""
    text = document()
    start = text.index("## Appendix B. Every error minisock answers with")
    return text[start : text.index("## Appendix C.", start)]


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
        r"HttpError\(\s*(\d{3})",
        r'b\'\{"code":(\d{3}),',
    ]
    found = {int(m) for pattern in patterns for m in re.findall(pattern, _source())}
    return {status for status in found if status >= 400}


def test_appendix_b_lists_every_http_status_minisock_can_send() -> None:
    section = _appendix_b()
    statuses = _statuses_in_source() | {400, 401, 403, 404, 413, 431, 503}
    statuses.add(431)  # h11's own hint for a head it cannot finish within the size limit
    missing = sorted(s for s in statuses if f"`{s}`" not in section)
    assert not missing, f"appendix B of PROTOCOL.md lacks HTTP {missing}"


def test_appendix_b_lists_every_literal_refusal_message() -> None:
    """Every fixed ``message`` minisock writes into a refusal body is shown in appendix B."""
    section = _appendix_b()
    source = "\n".join(
        (SOURCE / name).read_text("utf-8")
        for name in ("engine.py", "_polling.py", "_http.py", "_websocket.py", "proto/route.py")
    )
    messages = set(re.findall(r'"message":\s*"([^"]+)"', source))
    messages |= set(re.findall(r"Reject\(\s*\d{3},\s*ErrorCode\.\w+,\s*\"([^\"]+)\"", source))
    assert {"Not found", "Server shutting down", "Origin not allowed"} <= messages
    missing = sorted(m for m in messages if f'"message":"{m}' not in section)
    assert not missing, f"appendix B of PROTOCOL.md lacks refusals {missing}"


def test_appendix_b_lists_every_engineio_error_code() -> None:
    section = _appendix_b()
    for code in ErrorCode:
        assert f'`{{"code":{int(code)},' in section, f"no answer with code {int(code)}"


def test_appendix_b_lists_every_close_code_minisock_can_send() -> None:
    section = _appendix_b()
    names = set(re.findall(r"CloseCode\.([A-Z_]+)", _source()))
    used = {int(CloseCode[name]) for name in names if name in CloseCode.__members__}
    # Codes that only describe a close locally are never sent (RFC 6455 §7.4.1).
    used -= {int(CloseCode.NO_STATUS), int(CloseCode.ABNORMAL), int(CloseCode.TLS_HANDSHAKE)}
    used |= {1000, 1001, 1002, 1007, 1008, 1009}
    missing = sorted(code for code in used if f"close `{code}`" not in section)
    assert not missing, f"appendix B of PROTOCOL.md lacks close codes {missing}"


def test_appendix_b_lists_every_connect_error_message() -> None:
    section = _appendix_b()
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
    assert not missing, f"PROTOCOL.md appendix A lacks token reasons {missing}"


# ---------------------------------------------------------------- 4. structure and links


def _headings(text: str) -> list[str]:
    """The page's headings, outside fenced blocks."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.append(line)
    return found


def _anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    title = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


def test_sections_then_appendices() -> None:
    """The protocol story reads straight through; JWT, errors and differences come after it."""
    top = [h for h in _headings(document()) if h.startswith("## ")]
    numbered = [h for h in top if re.match(r"## \d+\. ", h)]
    assert [int(h.split()[1].rstrip(".")) for h in numbered] == list(range(1, 12))
    appendices = [h for h in top if h.startswith("## Appendix ")]
    assert [h.split()[2] for h in appendices] == ["A.", "B.", "C."]
    assert top.index(appendices[0]) > top.index(numbered[-1])
    assert top[-3:] == appendices
    assert "Authentication with JSON Web Tokens" in appendices[0]


def test_every_internal_link_lands_on_a_heading() -> None:
    text = document()
    anchors = {_anchor(h) for h in _headings(text)}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links, "no internal links found"
    missing = sorted(links - anchors)
    assert not missing, f"PROTOCOL.md links to missing headings {missing}"


def test_cross_references_name_existing_sections() -> None:
    """'section N' and 'appendix X' in the prose name sections that exist."""
    text = document()
    heads = _headings(text)
    sections = {m.group(1) for h in heads if (m := re.match(r"## (\d+)\. ", h))}
    appendices = {m.group(1) for h in heads if (m := re.match(r"## Appendix ([A-Z])\. ", h))}
    named = set(re.findall(r"\b[Ss]ections? (\d+)\b", text))
    assert named and named <= sections, sorted(named - sections)
    named_appendices = set(re.findall(r"\b[Aa]ppendix ([A-Z])\b", text))
    assert named_appendices and named_appendices <= appendices


def test_rules_carry_their_source_tags() -> None:
    """The three tags are defined once and used; the specs and RFC 6455 are linked."""
    text = document()
    for tag in ("**[spec]**", "**[reference]**", "**[minisock]**"):
        assert text.count(tag) >= 3, tag
    assert "https://github.com/socketio/engine.io-protocol/" in text
    assert "https://github.com/socketio/socket.io-protocol/" in text
    assert "https://www.rfc-editor.org/rfc/rfc6455" in text
