"""The pure side of HTTP compression: which encoding an ``Accept-Encoding`` allows (the rules
of Node's ``accepts(req).encodings(["gzip", "deflate"])``), and bodies that decode with the
stdlib's own readers."""

from __future__ import annotations

import gzip
import zlib

import pytest

from minisock.proto.http_compression import HttpCompression, choose_encoding, compress_body


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip, deflate, br, zstd", "gzip"),  # Chromium's
        ("deflate, gzip", "deflate"),  # equal q: the client's order
        ("gzip;q=0.5, deflate", "deflate"),
        ("GZIP;Q=1", "gzip"),
        ("gzip;q=0, deflate;q=0", None),
        ("br, identity", None),
        ("*", "gzip"),
        ("gzip;q=0, *", "deflate"),  # "*" stands for what is not named
        ("gzip;q=0, deflate;q=0, *", None),
        ("*;q=0", None),
        ("gzip;q=abc", None),  # a bad q-value counts as 0
        ("gzip;q=2", None),  # so does one out of range
        (" , ;, gzip ; q=0.1 ,", "gzip"),
    ],
)
def test_choose_encoding(header: str | None, expected: str | None) -> None:
    assert choose_encoding(header) == expected


def test_bodies_decode_with_the_stdlib() -> None:
    body = b"4" + b'{"hello":"world"}' * 100
    assert gzip.decompress(compress_body(body, "gzip")) == body
    assert zlib.decompress(compress_body(body, "deflate")) == body
    assert compress_body(body, "gzip") == compress_body(body, "gzip")  # no timestamp inside
    with pytest.raises(ValueError):
        compress_body(body, "br")


@pytest.mark.parametrize("kwargs", [{"threshold": -1}, {"level": 10}, {"level": -2}])
def test_bad_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        HttpCompression(**kwargs)
