"""Stand-ins for a dead and for a hung server, on 127.0.0.1 only.

* :class:`RefusedPort`: a port that refuses every connection (bound, never
  listening, so nothing else can take it while it is open).
* :class:`ForwardingPort`: a port that relays to a real server until it
  is :meth:`~ForwardingPort.cut` (open connections dropped, new ones
  refused), and again after :meth:`~ForwardingPort.restore`: a server
  that dies, and comes back, after a client first reached it.
* :class:`SilentListener`: a port that accepts every connection and never
  sends a byte, as a hung server or a dropped network path behaves. Every
  accepted socket is held open until :meth:`~SilentListener.stop`, or
  until ``lifetime`` seconds passed, so a client that does not give up on
  its own can never hang a run for ever. :meth:`SilentListener.still_holding`
  tells that the client gave up while the listener was still silent, which
  is "did not wait for the hung server" without a wall-clock bound.

Both are started by :meth:`start` (which returns the object) or by
``with``; the test suite wraps them as fixtures.
"""

import socket
import threading

__all__ = [
    'ForwardingPort',
    'HOST',
    'RefusedPort',
    'SilentListener',
    'hang_up',
    'relay',
]

HOST = '127.0.0.1'


class _Server:

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class RefusedPort(_Server):
    """``port`` refuses connections until :meth:`stop`."""

    def start(self) -> 'RefusedPort':
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((HOST, 0))
        self.port = self._socket.getsockname()[1]
        return self

    def stop(self) -> None:
        self._socket.close()


class SilentListener(_Server):
    """``port`` accepts connections and never answers."""

    def __init__(self, lifetime: float = 120.0):
        self.lifetime = lifetime

    def start(self) -> 'SilentListener':
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.accepted = 0
        self.first_accepted = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name='silent-listener-%d' % self.port)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.release)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _serve(self) -> None:
        while not self._released.is_set():
            try:
                connection, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._released.is_set():
                    connection.close()
                    return
                self._held.append(connection)
                self.accepted += 1
            self.first_accepted.set()

    def still_holding(self) -> bool:
        """True while the listener has not let any connection go."""
        return not self._released.is_set()

    def release(self) -> None:
        """Close every held connection (they see EOF) and stop accepting."""
        self._released.set()
        with self._lock:
            held, self._held = self._held, []
        for connection in held:
            connection.close()

    def stop(self) -> None:
        self._timer.cancel()
        self.release()
        self._thread.join(5)
        self._listener.close()


class ForwardingPort(_Server):
    """``port`` relays every connection to ``upstream`` (host, port) while
    it is up; :meth:`cut` drops them all and refuses new ones on the same
    port until :meth:`restore`. ``accepted`` counts connections relayed."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream

    def start(self) -> 'ForwardingPort':
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self.accepted = 0
        self._refusing = None
        self._listen(0)
        return self

    def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(
            target=self._serve, args=(listener,), daemon=True,
            name='forwarding-port-%d' % self.port)
        self._thread.start()

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # closed by cut() or stop()
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
                self.accepted += 1
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=relay, args=(source, sink),
                                 daemon=True).start()

    def _drop_connections(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            hang_up(*pair)

    def _close_listener(self) -> None:
        # shutdown() wakes the accept() blocked in _serve; close() alone
        # would leave the port listening until a connection came.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)

    def cut(self) -> None:
        """Drop every relayed connection; refuse new ones on ``port``."""
        self._close_listener()
        self._drop_connections()
        refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        refusing.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        refusing.bind((HOST, self.port))  # bound, never listening
        self._refusing = refusing

    def restore(self) -> None:
        """Relay again, on the same port."""
        self._refusing.close()
        self._refusing = None
        self._listen(self.port)

    def stop(self) -> None:
        if self._refusing is not None:
            self._refusing.close()
        else:
            self._close_listener()
        self._drop_connections()


def relay(source: socket.socket, sink: socket.socket) -> None:
    """Copy what ``source`` sends to ``sink`` until either end closes,
    then shut both down (the other direction's relay then ends too)."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    for end in (source, sink):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def hang_up(*sockets: socket.socket) -> None:
    """Shut each socket down (waking a thread blocked reading it, which
    ``close()`` alone would not) and close it."""
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut down or never connected
        sock.close()
