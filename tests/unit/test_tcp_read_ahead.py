"""connection/tcp.py's PromptAckSocket reads ahead: paramiko asks for each packet in exact
pieces, and the socket hands them out from one read of the kernel's buffer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from jarvisctl.connection.tcp import PromptAckSocket


@pytest.fixture()
def pair() -> Iterator[tuple[PromptAckSocket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = PromptAckSocket(socket.AF_INET, socket.SOCK_STREAM)
        client.connect(server.getsockname())
        peer, _ = server.accept()
    with client, peer:
        yield client, peer


def test_pieces_come_out_in_order_whatever_their_sizes(
    pair: tuple[PromptAckSocket, socket.socket],
) -> None:
    client, peer = pair
    data = bytes(range(256)) * 1000  # 256,000 bytes: more than one read ahead
    sender = threading.Thread(target=peer.sendall, args=(data,))
    sender.start()
    got = bytearray()
    sizes = [16, 1, 4000, 7, 65536, 3, 100_000]
    while len(got) < len(data):
        wanted = sizes[len(got) % len(sizes)]
        piece = client.recv(wanted)
        assert piece, "the stream ended early"
        assert len(piece) <= wanted
        got += piece
    sender.join()
    assert bytes(got) == data


def test_a_piece_is_never_longer_than_asked(pair: tuple[PromptAckSocket, socket.socket]) -> None:
    client, peer = pair
    peer.sendall(b"a" * 16 + b"b" * 48 + b"c" * 20)
    assert client.recv(16) == b"a" * 16
    assert client.recv(48) == b"b" * 48  # from what the first read took from the kernel
    assert client.recv(1000) == b"c" * 20
    peer.sendall(b"more")
    assert client.recv(2) == b"mo" and client.recv(2) == b"re"


def test_one_read_of_the_kernel_serves_many_pieces(
    pair: tuple[PromptAckSocket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, peer = pair
    reads = []
    original = socket.socket.recv

    def counted(self: socket.socket, bufsize: int, flags: int = 0) -> bytes:
        reads.append(bufsize)
        return original(self, bufsize, flags)

    monkeypatch.setattr(socket.socket, "recv", counted)
    peer.sendall(bytes(300))
    pieces = [client.recv(16), client.recv(84), client.recv(200)]
    assert [len(p) for p in pieces] == [16, 84, 200]
    assert len(reads) == 1, f"{len(reads)} reads of the kernel for one burst"


def test_the_end_of_the_stream_is_still_said(pair: tuple[PromptAckSocket, socket.socket]) -> None:
    client, peer = pair
    peer.sendall(b"last")
    peer.shutdown(socket.SHUT_WR)
    assert client.recv(2) == b"la" and client.recv(10) == b"st"
    assert client.recv(10) == b""  # EOF, as paramiko's packetizer expects it
