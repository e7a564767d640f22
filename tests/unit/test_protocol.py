"""The coalescing transport under uvicorn's protocol: one write per answer, nothing lost."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvicorn

from tally.api.protocol import CoalescingProtocol, CoalescingTransport


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.eof = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 7

    def write_eof(self) -> None:
        self.eof = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 9)}.get(name, default)


async def _turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_writes_in_one_turn_reach_the_socket_as_one_write() -> None:
    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    outer.write(memoryview(b"ok"))
    assert inner.writes == []
    assert outer.get_write_buffer_size() == 7 + 40
    await _turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    outer.write(b"second")
    await _turn()
    assert inner.writes[1:] == [b"second"]


async def test_empty_writes_schedule_nothing() -> None:
    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"")
    outer.writelines([b"", b"a", b"b"])
    await _turn()
    assert inner.writes == [b"ab"]


async def test_close_and_write_eof_send_what_is_kept_first() -> None:
    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"last words")
    outer.close()
    assert inner.writes == [b"last words"] and inner.closed
    await _turn()  # the scheduled flush finds nothing left
    assert inner.writes == [b"last words"]

    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"tail")
    outer.write_eof()
    assert inner.writes == [b"tail"] and inner.eof


async def test_abort_and_a_closed_socket_drop_what_is_kept() -> None:
    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"never sent")
    outer.abort()
    await _turn()
    assert inner.writes == [] and inner.aborted

    inner = FakeTransport()
    outer = CoalescingTransport(inner, asyncio.get_running_loop())
    outer.write(b"too late")
    inner.closed = True  # the peer went away before the end of the turn
    await _turn()
    assert inner.writes == []
    assert outer.is_closing()
    assert outer.get_extra_info("peername") == ("127.0.0.1", 9)


# ---- under a real uvicorn server ---------------------------------------------------------------


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path == "/stream":  # chunks with a pause between: each one leaves on its own
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for chunk in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    payload = body[::-1] if path == "/echo" else b"x" * 300_000
    headers = [(b"content-length", str(len(payload)).encode())]
    if path == "/close":
        headers.append((b"connection", b"close"))
        payload = b"bye"
        headers[0] = (b"content-length", b"3")
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    length = next((int(x.split(":")[1]) for x in lines if x.startswith("content-length")), None)
    if length is not None:
        return head, await reader.readexactly(length)
    body = b""
    while True:  # chunked
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return head, body
        body += chunk[:-2]


@pytest.fixture
async def server() -> Any:
    port = _free_port()
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=port, http=CoalescingProtocol, log_level="warning"
    )
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    assert srv.started
    yield port
    srv.should_exit = True
    await task


async def test_answers_over_a_kept_alive_connection_stay_whole(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        # two requests pipelined, then a large answer, then a streamed one
        for text in (b"abc", b"hello"):
            writer.write(
                b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n\r\n%s"
                % (len(text), text)
            )
        await writer.drain()
        for text in (b"abc", b"hello"):
            head, body = await _read_answer(reader)
            assert head.startswith(b"HTTP/1.1 200") and body == text[::-1]
        writer.write(b"GET /big HTTP/1.1\r\nhost: t\r\n\r\n")
        _, body = await _read_answer(reader)
        assert body == b"x" * 300_000
        writer.write(b"GET /stream HTTP/1.1\r\nhost: t\r\n\r\n")
        head, body = await _read_answer(reader)
        assert b"transfer-encoding: chunked" in head.lower() and body == b"one,two,three"
    finally:
        writer.close()


async def test_a_connection_close_answer_arrives_before_the_close(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(b"GET /close HTTP/1.1\r\nhost: t\r\n\r\n")
    await writer.drain()
    _, body = await _read_answer(reader)
    assert body == b"bye"
    assert await reader.read() == b""  # then the server closed it
    writer.close()
