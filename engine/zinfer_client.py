"""Python client for a zinfer topology started with `zinfer up`.

Needs only Debian's python3-zmq, python3-msgpack and python3-numpy:

    import numpy as np
    from zinfer_client import Client

    client = Client("tcp://127.0.0.1:7100")      # printed by `zinfer up`
    (probabilities,) = client.infer([np.zeros((1, 1, 8, 8), np.float32)])

    # Many requests in flight: send, then collect answers in any order
    ids = [client.send([x]) for x in batch]
    answers = dict(client.recv() for _ in ids)    # id -> list of outputs

The wire format is documented in docs/protocol.md: every tensor is a msgpack
header frame followed by its raw little-endian bytes.
"""

import time

import msgpack
import numpy as np
import zmq

VERSION = 1
REQUEST, REPLY, ERROR = 2, 3, 4
GATEWAY = 0xFFFF
DTYPES = {np.dtype(np.float32): 1, np.dtype(np.int64): 7, np.dtype(np.bool_): 9}
NUMPY = {code: dtype for dtype, code in DTYPES.items()}


class ZinferError(Exception):
    """A request the topology refused or failed; `request` is its id."""

    def __init__(self, request, text):
        super().__init__(f"request {request}: {text}")
        self.request = request
        self.text = text


class Client:
    """One DEALER connection to a topology's gateway."""

    def __init__(self, endpoint, context=None):
        self.endpoint = endpoint
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(endpoint)
        self._next_id = 1
        self._pending = {}          # id -> inputs, kept for a resend

    def close(self):
        self._socket.close()

    def pending(self):
        """Requests sent and not yet answered."""
        return len(self._pending)

    def send(self, inputs):
        """Sends one request (a list of arrays, in the model's input order)
        and returns its id without waiting."""
        arrays = [np.ascontiguousarray(x) for x in inputs]
        for x in arrays:
            if x.dtype not in DTYPES:
                raise TypeError(f"unsupported dtype {x.dtype} (float32, int64 or bool)")
        request = self._next_id
        self._next_id += 1
        frames = []
        for slot, x in enumerate(arrays):
            header = [VERSION, REQUEST, request, GATEWAY, slot, len(arrays), DTYPES[x.dtype],
                      list(x.shape), 0]
            frames += [msgpack.packb(header), memoryview(x).cast("B")]
        self._socket.send_multipart(frames, copy=False)
        self._pending[request] = arrays
        return request

    def recv(self, timeout=30.0):
        """Waits for the next answer; returns (id, [outputs]). Raises
        ZinferError for a failed request and TimeoutError when nothing
        comes within timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = max(0, deadline - time.monotonic())
            if not self._socket.poll(int(left * 1000)):
                raise TimeoutError(f"no answer from {self.endpoint} within {timeout} s "
                                   f"({self.pending()} pending)")
            frames = self._socket.recv_multipart(copy=False)
            header = msgpack.unpackb(frames[0].bytes)
            request, kind = header[2], header[1]
            if request not in self._pending:
                continue        # a duplicate or a stray: not the caller's
            if kind == ERROR:
                del self._pending[request]
                raise ZinferError(request, header[9] if len(header) > 9 else "failed")
            outputs = [None] * header[5]
            for index in range(0, len(frames), 2):
                part = msgpack.unpackb(frames[index].bytes)
                shape = tuple(part[7])
                data = np.frombuffer(frames[index + 1].buffer, dtype=NUMPY[part[6]])
                outputs[part[4]] = data.reshape(shape).copy()
            del self._pending[request]
            return request, outputs

    def infer(self, inputs, timeout=30.0):
        """Sends one request and returns its outputs."""
        request = self.send(inputs)
        while True:
            answered, outputs = self.recv(timeout)
            if answered == request:
                return outputs

    def infer_many(self, requests, inflight=8, timeout=30.0):
        """Runs many requests with up to `inflight` in flight; returns the
        outputs in the order of the requests."""
        ids, answers, sent = [], {}, 0
        while len(answers) < len(requests):
            while sent < len(requests) and sent - len(answers) < inflight:
                ids.append(self.send(requests[sent]))
                sent += 1
            request, outputs = self.recv(timeout)
            answers[request] = outputs
        return [answers[request] for request in ids]
