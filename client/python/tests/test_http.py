"""The client's own HTTP/1.1 reading (larder/_transport.py), against a scripted server socket:
answers the Larder server sends rarely (chunked, an interim 100, Connection: close, an answer
split over many packets) are read as well as the usual Content-Length one."""

from __future__ import annotations

import socket
import threading

import msgpack

from larder._transport import Transport

ANSWER = msgpack.packb({"len": 7})


def _script(answers: list):
    """A server that reads one request per answer and writes that answer, in pieces."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            for answer in answers:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += conn.recv(65536)
                for i in range(0, len(answer), 7):  # many small packets
                    conn.sendall(answer[i : i + 7])

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", listener


def _chunked(body: bytes) -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + 3]), body[i : i + 3]) for i in range(0, len(body), 3)) + b"0\r\nX-Trailer: 1\r\n\r\n"


def test_answers_of_every_framing_on_one_connection():
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/msgpack\r\nContent-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(ANSWER),
        b"HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER),
    ]
    url, listener = _script(answers)
    transport = Transport(url, requests_in_flight_max=float("inf"))
    try:
        for _ in answers:
            assert transport.call("queueLen", {"id": "qu-x"}) == {"len": 7}
        assert transport._idle == []  # the last answer closed its connection
    finally:
        transport.close()
        listener.close()


def test_an_error_answer_is_rebuilt_from_its_json():
    body = b'{"code":"NOT_FOUND","message":"no such queue"}'
    url, listener = _script([b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)])
    transport = Transport(url)
    try:
        import larder

        try:
            transport.call("queueLen", {"id": "qu-x"})
        except larder.NotFoundError as err:
            assert str(err) == "no such queue"
        else:
            raise AssertionError("no error")
    finally:
        transport.close()
        listener.close()
