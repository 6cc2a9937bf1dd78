"""The request pollers send again and again, recognised without twisted.web's parser (sans-IO).

A client polling `/status` or `/health` sends one bodiless keep-alive `GET /name HTTP/1.1` per read. Told
apart here, the channel answers it without building a twisted.web Request, which costs more than the
answer itself; anything else (a query, a body, `Connection`, pipelining, HTTP/1.0, odd line endings)
goes to the full parser and its limits.
"""

from __future__ import annotations

import re

MAX_HEADERS = 500
"""Twisted's own header count limit: a request over it is the full parser's to refuse."""
_METHOD = re.compile(rb"GET /([a-z_]+) HTTP/1\.1")
_HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LEFT_TO_THE_PARSER = frozenset(
    {b"connection", b"content-length", b"expect", b"transfer-encoding", b"upgrade"}
)
"""Headers that ask for a body, for closing, or for another protocol."""


def plain_get_method(data: bytes, max_bytes: int) -> str | None:
    """The method `data` asks for if it is exactly one complete plain keep-alive GET, else None."""
    if len(data) > max_bytes or not data.endswith(b"\r\n\r\n"):
        return None
    request_line, *headers = data[:-4].split(b"\r\n")
    method = _METHOD.fullmatch(request_line)
    if method is None or len(headers) > MAX_HEADERS:
        return None
    for header in headers:
        name, colon, value = header.partition(b":")
        if not colon or b"\n" in value or _HEADER_NAME.fullmatch(name) is None:
            return None
        if name.lower() in _LEFT_TO_THE_PARSER:
            return None
    return method.group(1).decode()
