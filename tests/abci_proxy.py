"""Test helper: a recording TCP proxy between an ABCI client and its app, on threads in the test process.

It forwards bytes both ways, records the socket-protocol requests it sees (decoded with the codec), can
hold one connection's requests back, and can be re-pointed at another app, so a test chooses exactly
when the app dies, which app answers next, and what reached it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

from cometsync.abci.codec import FrameDecoder, parse
from cometsync.abci.errors import ABCIProtocolError
from cometsync.proto.tendermint.abci import types_pb2 as abci_pb2

WAIT_SECONDS = 20.0


@dataclass
class Link:
    """One client connection and the upstream one it was paired with."""

    index: int
    upstream_port: int
    requests: list[str] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class RecordingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.links: list[Link] = []
        self.held: set[int] = set()
        """Indexes of links whose client-to-app bytes wait until `release(index)`."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._linked = threading.Condition(self._lock)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests_to(self, upstream_port: int) -> list[str]:
        with self._lock:
            return [
                name for link in self.links if link.upstream_port == upstream_port for name in link.requests
            ]

    def links_to(self, upstream_port: int) -> list[Link]:
        with self._lock:
            return [link for link in self.links if link.upstream_port == upstream_port]

    def wait_links(self, count: int) -> list[Link]:
        """The first `count` links, once the accept thread has paired them (a client's connect returns as
        soon as the kernel queues it, before this proxy has accepted and dialled the app)."""
        with self._linked:
            if not self._linked.wait_for(lambda: len(self.links) >= count, WAIT_SECONDS):
                raise AssertionError(f"only {len(self.links)} of {count} connections reached the proxy")
            return self.links[:count]

    def hold(self, index: int) -> None:
        self.held.add(index)

    def release(self, index: int) -> None:
        self.held.discard(index)
        self.links[index].release.set()

    def wait_all_closed(self, upstream_port: int) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        for link in self.links_to(upstream_port):
            if not link.closed.wait(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"proxy link {link.index} to port {upstream_port} did not close")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            port = self.upstream_port
            try:
                app = socket.create_connection(("127.0.0.1", port), timeout=WAIT_SECONDS)
            except OSError:
                client.close()
                continue
            app.settimeout(None)
            with self._lock:
                link = Link(len(self.links), port)
                self.links.append(link)
                self._linked.notify_all()
            threading.Thread(target=self._pump, args=(client, app, link, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(app, client, link, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, link: Link, to_app: bool) -> None:
        frames = FrameDecoder()
        try:
            while data := source.recv(65536):
                if to_app:
                    self._record(frames, data, link)
                    if link.index in self.held:
                        link.release.wait(WAIT_SECONDS)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            link.closed.set()
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def _record(self, frames: FrameDecoder, data: bytes, link: Link) -> None:
        """Socket-protocol requests by name; gRPC's HTTP/2 bytes are not decoded (nothing is recorded)."""
        if frames.max_frame_bytes == 0:
            return
        try:
            for payload in frames.feed(data):
                name = parse(abci_pb2.Request, payload).WhichOneof("value")
                with self._lock:
                    link.requests.append(name or "?")
        except ABCIProtocolError:
            frames.max_frame_bytes = 0  # not the socket protocol: stop decoding this direction
