"""The host's side of test_net_tap.py, run inside the test's network namespace:
`python3 netns_servers.py ADDR` serves TCP and UDP echo on ADDR:7 and a name server on
ADDR:53 that answers every A question with NAME_ADDR (and AAAA with no answer), then
prints "ready"."""

import socket
import socketserver
import sys
import threading

NAME_ADDR = bytes((10, 0, 5, 77))
_A = b"\0\1"


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while chunk := self.request.recv(65536):
            self.request.sendall(chunk)


def answer(query: bytes) -> bytes:
    """A DNS reply to `query`: its id and question, one A record for an A question."""
    end = query.index(b"\0", 12) + 5  # the question: its name, type and class
    is_a = query[end - 4 : end - 2] == _A
    head = query[:2] + b"\x81\x80" + query[4:6] + (b"\0\1" if is_a else b"\0\0") + b"\0" * 4
    record = b"\xc0\x0c" + _A + b"\0\1" + (60).to_bytes(4, "big") + b"\0\4" + NAME_ADDR
    return head + query[12:end] + (record if is_a else b"")


def serve_udp(sock: socket.socket, reply) -> None:
    while True:
        data, peer = sock.recvfrom(65536)
        sock.sendto(reply(data), peer)


def main() -> None:
    addr = sys.argv[1]
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    tcp = socketserver.ThreadingTCPServer((addr, 7), Echo)
    for port, reply in ((7, lambda d: d), (53, answer)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        threading.Thread(target=serve_udp, args=(s, reply), daemon=True).start()
    print("ready", flush=True)
    tcp.serve_forever()


if __name__ == "__main__":
    main()
