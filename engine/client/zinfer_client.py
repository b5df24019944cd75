"""Python client for a zinfer topology started with `zinfer up`.

Needs only Debian's python3-zmq, python3-msgpack and python3-numpy:

    import numpy as np
    from zinfer_client import Client

    client = Client("tcp://127.0.0.1:7100")      # printed by `zinfer up`
    (probabilities,) = client.infer([np.zeros((1, 1, 8, 8), np.float32)])

    # From a topology file: ipc on the gateway's host, and the model's
    # input and output names, so that answers are also found by name
    with Client.from_topology("topology.yaml") as client:
        outputs = client.infer({"input": x})
        probabilities = outputs["output"]             # or outputs[0]

    # Many requests in flight: send, then collect answers in any order
    ids = [client.send([x]) for x in batch]
    answers = dict(client.recv() for _ in ids)    # id -> list of outputs

    # A topology that uses CURVE: the gateway host's public key (Z85 text or
    # its key file) and this client's secret key file from `zinfer keygen`
    client = Client("tcp://10.0.0.1:7100", server_key="keys/a.key",
                    key_file="keys/me.key_secret")

The wire format is documented in docs/protocol.md: every tensor is a msgpack
header frame followed by its raw little-endian bytes. On the gateway's host
(an ipc:// endpoint) inputs of 64 KiB and more go through shared memory
instead: the client copies them into a block of its own under /dev/shm and
sends where they are (set ZINFER_SHARED_MEMORY=0 or shared_memory=False to
send them inline). An input made with Client.array(shape) lies in such a
block from the start and is never copied.
"""

from __future__ import annotations

import mmap
import os
import secrets
import socket
import stat
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import msgpack
import numpy as np
import numpy.typing as npt
import zmq

VERSION = 1
REQUEST, REPLY, ERROR = 2, 3, 4
SHARED = 2              # header flag: the data frame says where the bytes are
SHARED_MIN_BYTES = 64 * 1024
DEFAULT_BASE_PORT = 7100    # a topology's base_port when it gives none
SPARE_BLOCKS = 64
GATEWAY = 0xFFFF
MAX_ATTEMPTS = 5        # a request sent this often without an answer is given up,
GIVE_UP_AFTER = 30.0    # ... once this many seconds have passed since it was first sent
SLOW_LINK = 32 * 1024 * 1024  # bytes/s a large request is given to cross before it counts as lost
# The wire's element types, ONNX's TensorProto codes (docs/protocol.md)
DTYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3,
          np.dtype(np.int32): 6, np.dtype(np.int64): 7, np.dtype(np.bool_): 9,
          np.dtype(np.float16): 10}
# What `zinfer run` converts .npy files to, and so does the client; the
# gateway itself widens int32 to an int64 input, float16 to float32 and so on
WIDENED = {np.dtype(np.float64): np.dtype(np.float32)}
NUMPY = {code: dtype for dtype, code in DTYPES.items()}
NAMES_TIMEOUT = 1.0     # seconds from_topology waits for the model's names

# What send() and infer() take: one array (a one-input model), arrays in the
# model's input order, or arrays by input name; anything numpy.asarray takes
# stands for an array
Inputs = Union[npt.ArrayLike, Sequence[npt.ArrayLike], Mapping[str, npt.ArrayLike]]


class Outputs(list):
    """A request's outputs in the model's order; also by name
    (outputs["logits"]) when the client knows the model's output names,
    as Client.from_topology does."""

    def __init__(self, arrays: Iterable[np.ndarray],
                 names: Sequence[str] | None = None) -> None:
        """arrays in the model's output order; names: the model's output
        names, kept when there is one per array"""
        super().__init__(arrays)
        self.names = list(names) if names and len(names) == len(self) else None

    def __getitem__(self, key: Any) -> Any:
        """outputs[0], outputs[1:], or outputs["name"] when the names are
        known (KeyError naming the outputs when not)"""
        if isinstance(key, str):
            if self.names is None:
                raise KeyError(f"output {key!r}: the model's output names are unknown here "
                               "(Client.from_topology asks for them; or set "
                               "client.output_names)")
            if key not in self.names:
                raise KeyError(f"no output {key!r}; the model's outputs are {self.names}")
            key = self.names.index(key)
        return super().__getitem__(key)

    def as_dict(self) -> dict[str, np.ndarray]:
        """{name: array}; needs the names"""
        if self.names is None:
            raise KeyError("the model's output names are unknown here")
        return dict(zip(self.names, self))


class ZinferError(Exception):
    """A request the topology refused or failed; `request` is its id."""

    def __init__(self, request: int, text: str) -> None:
        super().__init__(f"request {request}: {text}")
        self.request = request
        self.text = text


def read_key(text_or_path: str, secret: bool = False) -> bytes:
    """A CURVE key from 40 Z85 characters or a key file made by `zinfer
    keygen`; secret=True reads the secret key, refusing a file that group
    or others may read, as zinfer does."""
    if not secret and len(text_or_path) == 40 and not os.path.exists(text_or_path):
        return text_or_path.encode()
    info = os.stat(text_or_path)
    if secret and info.st_mode & 0o077:
        raise ValueError(f"secret key file '{text_or_path}' has mode "
                         f"{stat.S_IMODE(info.st_mode):04o}: group or others may read or "
                         f"change it; refused (chmod 600 '{text_or_path}')")
    wanted = "secret-key" if secret else "public-key"
    for line in open(text_or_path):
        name, _, value = line.strip().partition("=")
        if name.strip() == wanted:
            return value.strip().strip('"').encode()
    raise ValueError(f"'{text_or_path}' holds no {wanted}; expected a file made by "
                     f"`zinfer keygen`")


class _Block:
    """A shared-memory block of this client's, named after its pid as the
    gateway requires, readable by this user only; unlinked when closed."""

    _sequence = 0

    def __init__(self, size: int, owner: int | None = None) -> None:
        """owner: the pid the name carries (this process's; a test may
        name another, which the gateway then refuses)"""
        self.size = (size + 65535) // 65536 * 65536
        Block = type(self)
        Block._sequence += 1
        owner = owner or os.getpid()
        self.name = f"/zinfer-{owner}-{Block._sequence}-{secrets.token_hex(4)}"
        fd = os.open("/dev/shm" + self.name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, self.size)
            self.map = mmap.mmap(fd, self.size)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Unmaps and unlinks the block"""
        self.map.close()
        self.unlink()

    def unlink(self) -> None:
        """Removes the name; the memory goes with the last mapping"""
        try:
            os.unlink("/dev/shm" + self.name)
        except FileNotFoundError:
            pass


PROBE_TIMEOUT = 1.5     # seconds to learn whether a tcp endpoint listens


def _runtime_folder() -> str:
    """Where zinfer keeps this user's runtime files (docs/security.md):
    $XDG_RUNTIME_DIR/zinfer when that is a private folder of ours, else
    /tmp/zinfer-UID"""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        try:
            info = os.stat(xdg)
            if info.st_uid == os.getuid() and info.st_mode & 0o077 == 0:
                return os.path.join(xdg, "zinfer")
        except OSError:
            pass
    return f"/tmp/zinfer-{os.getuid()}"


def _listening_ipc(path: str) -> bool:
    """True when a private folder of ours holds a socket something listens on"""
    try:
        folder = os.lstat(os.path.dirname(os.path.dirname(path)))
        if folder.st_uid != os.getuid() or folder.st_mode & 0o077:
            return False
        check_listening("ipc://" + path)
        return True
    except (OSError, ConnectionRefusedError):
        return False


def check_listening(endpoint: str) -> None:
    """Raises ConnectionRefusedError, saying why, when nothing listens at
    endpoint. ZeroMQ retries a refused connection forever in silence, and a
    request would wait its whole timeout; a plain connect tells a stopped
    topology (or one on other ports) from a slow one at once. A tcp host
    that says nothing within PROBE_TIMEOUT is taken as slow, not absent."""
    if endpoint.startswith("ipc://"):
        path = endpoint[len("ipc://"):]
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except FileNotFoundError:
            raise ConnectionRefusedError(
                f"nothing listens at {endpoint} (no socket there): is the topology "
                "running? see zinfer status") from None
        except ConnectionRefusedError:
            raise ConnectionRefusedError(
                f"nothing listens at {endpoint} (a socket file left by a topology that "
                "stopped): the topology is not running; see zinfer status") from None
        except OSError:
            pass                # not ours to judge: ZeroMQ will say
        finally:
            probe.close()
    elif endpoint.startswith("tcp://"):
        host, _, port = endpoint[len("tcp://"):].rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), PROBE_TIMEOUT).close()
        except ConnectionRefusedError:
            raise ConnectionRefusedError(
                f"nothing listens at {endpoint} (connection refused): is the topology "
                "running? see zinfer status. Started with --base-port? Use its "
                "ports") from None
        except (OSError, ValueError):
            pass                # slow, unreachable or unusual: ZeroMQ will retry


def _gateway_ports(topology: dict[str, Any],
                   offset: int) -> tuple[str, int, int | None]:
    """The gateway's client port and its process's monitor port, and the
    host's address, allocated as `zinfer up` allocates them: from the
    host's base_port upwards, client port first, then each process's
    monitor and stats ports in file order, skipping explicit ones
    (docs/topology.md, Ports)"""
    base = int(topology.get("base_port", DEFAULT_BASE_PORT))
    processes = topology.get("processes") or [{}]
    names = [process.get("name") for process in processes]
    gateway = names.index(topology["gateway"]) if topology.get("gateway") in names else 0
    hosts = {entry.get("name"): entry for entry in topology.get("hosts") or []}

    def host_of(process: dict[str, Any]) -> str | None:
        return process.get("host") or next(iter(hosts), None)

    host = host_of(processes[gateway])
    entry = hosts.get(host) or {}
    explicit = {int(p["monitor_port"]) + offset for p in processes
                if host_of(p) == host and p.get("monitor_port")}
    if topology.get("client_port"):
        explicit.add(int(topology["client_port"]) + offset)
    if isinstance(topology.get("metrics"), dict) and topology["metrics"].get("port"):
        explicit.add(int(topology["metrics"]["port"]) + offset)
    following = [int(entry.get("base_port", base)) + offset]

    def allocate() -> int:
        while following[0] in explicit:
            following[0] += 1
        following[0] += 1
        return following[0] - 1

    client = int(topology["client_port"]) + offset if topology.get("client_port") else allocate()
    monitor = None
    for index, process in enumerate(processes):
        if host_of(process) != host:
            continue
        port = int(process["monitor_port"]) + offset if process.get("monitor_port") \
            else allocate()
        allocate()      # its stats port
        if index == gateway:
            monitor = port
            break
    return entry.get("address", "127.0.0.1"), client, monitor


def model_names(monitor_endpoint: str, context: zmq.Context | None = None,
                timeout: float = NAMES_TIMEOUT, server_key: str | None = None,
                key_file: str | None = None) -> tuple[list[str] | None, list[str] | None]:
    """The model's input and output names, as a topology's gateway process
    plans it, from that process's monitor (its MODEL query; over CURVE with
    server_key and key_file); (None, None) when it does not answer within
    timeout seconds"""
    context = context or zmq.Context.instance()
    query = context.socket(zmq.DEALER)
    query.setsockopt(zmq.LINGER, 0)
    # A monitor that refused the handshake leaves no peer to send to
    query.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
    try:
        if server_key and key_file:
            secret = read_key(key_file, secret=True)
            query.curve_serverkey = read_key(server_key)
            query.curve_secretkey = secret
            query.curve_publickey = zmq.curve_public(secret)
        query.connect(monitor_endpoint)
        query.send(msgpack.packb(["MODEL"]))
        if not query.poll(int(timeout * 1000)):
            return None, None
        reply = msgpack.unpackb(query.recv(), raw=False)
        if not isinstance(reply, dict) or reply.get("kind") != "model":
            return None, None
        return [entry["name"] for entry in reply["inputs"]], list(reply["outputs"])
    except (zmq.ZMQError, ValueError, KeyError, TypeError, OSError):
        return None, None
    finally:
        query.close()


class Client:
    """One DEALER connection to a topology's gateway."""

    def __init__(self, endpoint: str, context: zmq.Context | None = None,
                 resend: float | bool | None = None, server_key: str | None = None,
                 key_file: str | None = None, shared_memory: bool | None = None,
                 timeout: float = 30.0) -> None:
        """resend: None for an adaptive grace (4x the recent latency, at
        least 0.2 s), a number of seconds to fix it, or False to never
        resend a request whose answer is overdue. server_key and key_file:
        for a topology that uses CURVE, the gateway host's public key and
        this client's secret key file. shared_memory: None for the default
        (on for ipc endpoints unless ZINFER_SHARED_MEMORY=0), False to send
        inputs inline; never over tcp. timeout: seconds that infer(),
        recv(), wait() and infer_many() wait for an answer unless given
        one of their own. Raises ConnectionRefusedError when nothing
        listens at endpoint (check_listening), within PROBE_TIMEOUT."""
        if not timeout or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        check_listening(endpoint)
        self.endpoint = endpoint
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        # A gateway that refused this client's handshake (a CURVE key it
        # does not know, or none) leaves the socket no peer to queue for,
        # and a send would wait forever: it waits the timeout at most
        self._socket.setsockopt(zmq.SNDTIMEO, int(self.timeout * 1000))
        if server_key or key_file:
            if not (server_key and key_file):
                raise ValueError("CURVE needs both server_key and key_file")
            secret = read_key(key_file, secret=True)
            self._socket.curve_serverkey = read_key(server_key)
            self._socket.curve_secretkey = secret
            self._socket.curve_publickey = zmq.curve_public(secret)
        self._socket.connect(endpoint)
        self._next_id = 1
        # id -> [frames, first sent, last sent, attempts, block, arrays]
        self._pending: dict[int, list[Any]] = {}
        self._resend = resend
        self._latency = 0.0
        self._highest_answered = 0
        self._last_progress = time.monotonic()
        self.resends = 0            # requests sent again
        self.duplicates = 0         # answers dropped as already delivered
        self.busy = 0               # busy refusals, their requests kept to send again
        if shared_memory is None:
            shared_memory = os.environ.get("ZINFER_SHARED_MEMORY", "1") != "0"
        self.shared_memory = bool(shared_memory) and endpoint.startswith("ipc://") \
            and os.path.isdir("/dev/shm")
        self._spare: list[_Block] = []      # blocks free for the next requests
        # address -> (block, bytes) of array()'s arrays
        self._arrays: dict[int, tuple[_Block, int]] = {}
        # id -> outputs received while waiting for another
        self._answered: dict[int, Outputs] = {}
        # the model's input names, for dict inputs
        self.input_names: list[str] | None = None
        # the model's output names, for outputs by name
        self.output_names: list[str] | None = None

    @classmethod
    def from_topology(cls, path: str | os.PathLike[str], base_port: int | None = None,
                      key_file: str | None = None, **options: Any) -> Client:
        """A client of the topology described by the YAML file at path, as
        `zinfer up` started it on this host (base_port: it was started
        with --base-port). Over ipc when the gateway's folder is ours and
        something listens there, else over tcp (always with CURVE, with
        key_file or ZINFER_KEY as the client's key). It also asks the
        gateway's process for the model's input and output names
        (input_names, output_names), so that inputs and outputs go by
        name; they stay None if it does not answer within a second."""
        import yaml
        with open(path) as handle:
            topology = yaml.safe_load(handle)
        if not isinstance(topology, dict):
            raise ValueError(f"{path}: not a topology (a YAML mapping)")
        declared = int(topology.get("base_port", DEFAULT_BASE_PORT))
        base = int(base_port or declared)
        offset = base - declared
        host, port, monitor = _gateway_ports(topology, offset)
        name = topology.get("name") or os.path.splitext(os.path.basename(path))[0]
        security = topology.get("security") or {}
        hosts = {entry.get("name"): entry for entry in topology.get("hosts") or []}
        ipc = os.path.join(_runtime_folder(), f"{name}-{base}", "clients")
        curve = security.get("curve", bool(hosts) and len(hosts) > 1)
        if curve:
            processes = topology.get("processes") or [{}]
            names = [process.get("name") for process in processes]
            gateway = processes[names.index(topology["gateway"])
                                if topology.get("gateway") in names else 0]
            entry = hosts.get(gateway.get("host")) or next(iter(hosts.values()))
            key_file = key_file or os.environ.get("ZINFER_KEY")
            # A key file's path is relative to the topology's folder, as
            # zinfer reads it
            server_key = entry.get("public_key")
            beside = os.path.join(os.path.dirname(os.path.abspath(path)), str(server_key))
            if server_key and not os.path.isabs(server_key) and os.path.exists(beside):
                server_key = beside
            client = cls(f"tcp://{host}:{port}", server_key=server_key, key_file=key_file,
                         **options)
            if monitor:
                client.input_names, client.output_names = model_names(
                    f"tcp://{host}:{monitor}", client._context, server_key=server_key,
                    key_file=key_file)
            return client
        endpoint = f"ipc://{ipc}" if _listening_ipc(ipc) else f"tcp://{host}:{port}"
        client = cls(endpoint, **options)
        if monitor:
            client.input_names, client.output_names = model_names(
                f"tcp://{host}:{monitor}", client._context)
        return client

    def __enter__(self) -> Client:
        """with Client(...) as client: closes it on the way out"""
        return self

    def __exit__(self, *exception: object) -> bool:
        """Closes the client; exceptions go on"""
        self.close()
        return False

    def close(self) -> None:
        """Closes the connection and frees this client's shared memory;
        answers still pending are dropped"""
        for entry in self._pending.values():
            if entry[4]:
                entry[4].close()
        for block in self._spare:
            block.close()
        self._pending, self._spare = {}, []
        self._socket.close()

    def _frames(self, request: int, arrays: Sequence[np.ndarray],
                block: _Block | None) -> list[Any]:
        """The request's frames: header and data per input, or header and
        where the data is: in an array's own block (Client.array) or in
        the request's block"""
        frames, offset = [], 0
        for slot, x in enumerate(arrays):
            own = self._own_block(x)
            header = [VERSION, REQUEST, request, GATEWAY, slot, len(arrays), DTYPES[x.dtype],
                      list(x.shape), SHARED if block or own else 0]
            if own:
                frames += [msgpack.packb(header), msgpack.packb(own)]
            elif block:
                frames += [msgpack.packb(header),
                           msgpack.packb([block.name, offset, x.nbytes])]
                offset += (x.nbytes + 63) // 64 * 64
            else:
                frames += [msgpack.packb(header), memoryview(x).cast("B")]
        return frames

    def array(self, shape: int | Sequence[int],
              dtype: npt.DTypeLike = np.float32) -> np.ndarray:
        """A zeroed array to fill with a request's input. On the gateway's
        host with shared memory on, a large one lies in a block of this
        client's, and requests that carry it are read in place by the
        gateway: filling it is the only copy the input needs. Do not change
        it while a request that carries it is in flight."""
        dtype = np.dtype(dtype)
        size = int(np.prod(shape)) * dtype.itemsize
        if not self.shared_memory or size < SHARED_MIN_BYTES:
            return np.zeros(shape, dtype)
        try:
            block = _Block(size)
        except OSError:
            return np.zeros(shape, dtype)
        array = np.frombuffer(block.map, dtype, int(np.prod(shape))).reshape(shape)
        self._arrays[array.__array_interface__["data"][0]] = (block, size)
        # The block goes when the array (and every view of it) does
        weakref.finalize(array, self._drop_array, array.__array_interface__["data"][0], block)
        return array

    def _drop_array(self, address: int, block: _Block) -> None:
        # The array's memory may still be exported as this runs: the
        # mapping closes itself once nothing uses it
        self._arrays.pop(address, None)
        block.unlink()

    def _own_block(self, x: np.ndarray) -> list[Any] | None:
        """[name, offset, size] when x lies in a block made by array()"""
        if not self.shared_memory or not self._arrays:
            return None
        start = x.__array_interface__["data"][0]
        for base, (block, size) in self._arrays.items():
            if base <= start and start + x.nbytes <= base + size:
                return [block.name, start - base, x.nbytes]
        return None

    def _share(self, arrays: Sequence[np.ndarray]) -> _Block | None:
        """A block holding the arrays that are not in blocks of their own,
        or None to send those inline"""
        rest = [x for x in arrays if not self._own_block(x)]
        need = sum((x.nbytes + 63) // 64 * 64 for x in rest)
        if not self.shared_memory or need < SHARED_MIN_BYTES:
            return None
        fits = [b for b in self._spare if b.size >= need]
        if fits:
            block = fits[-1]
            self._spare.remove(block)
        else:
            try:
                block = _Block(need)
            except OSError:
                self.shared_memory = False      # no room in /dev/shm: inline it is
                return None
        offset = 0
        for x in rest:
            block.map[offset:offset + x.nbytes] = memoryview(x).cast("B")
            offset += (x.nbytes + 63) // 64 * 64
        return block

    @staticmethod
    def _by_reference(frames: Sequence[Any]) -> bool:
        """Whether a request's frames pass an input in shared memory"""
        return any(msgpack.unpackb(frames[index])[8] & SHARED
                   for index in range(0, len(frames), 2))

    def _release(self, block: _Block | None) -> None:
        if block is None:
            return
        if len(self._spare) < SPARE_BLOCKS:
            self._spare.append(block)
        else:
            block.close()

    def pending(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    def _arrays_of(self, inputs: Inputs) -> list[np.ndarray]:
        """The request's arrays in input order, from one array, a list or
        tuple of them, or a dict by input name; converted as `zinfer run`
        converts .npy files (float64 to float32)"""
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        elif isinstance(inputs, dict):
            if not self.input_names:
                raise TypeError("inputs by name need the model's input names: set "
                                "client.input_names (e.g. ['x']) or pass a list in order")
            unknown = sorted(set(inputs) - set(self.input_names))
            missing = [name for name in self.input_names if name not in inputs]
            if unknown or missing:
                raise KeyError(f"inputs by name: unknown {unknown}, missing {missing}; the "
                               f"model's inputs are {self.input_names}")
            inputs = [inputs[name] for name in self.input_names]
        elif not isinstance(inputs, (list, tuple)):
            raise TypeError(f"inputs: a numpy array, a list of arrays or a dict by name, "
                            f"got {type(inputs).__name__}")
        arrays = []
        for slot, x in enumerate(inputs):
            x = np.asarray(x)
            if x.dtype in WIDENED:
                x = x.astype(WIDENED[x.dtype])
            if x.dtype not in DTYPES:
                raise TypeError(f"input {slot}: unsupported dtype {x.dtype} (float32 or "
                                "float64, float16, int64, int32, int8, uint8, bool)")
            arrays.append(np.ascontiguousarray(x))
        return arrays

    def _send_again(self, frames: list[Any]) -> bool:
        """Sends a pending request again; False when the socket cannot
        take it now (it stays pending and goes at the next resend)"""
        try:
            self._socket.send_multipart(frames, copy=False, flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def send(self, inputs: Inputs) -> int:
        """Sends one request and returns its id without waiting. inputs: a
        numpy array (one-input models), a list of arrays in the model's
        input order, or a dict by input name (with input_names set)."""
        arrays = self._arrays_of(inputs)
        request = self._next_id
        self._next_id += 1
        block = self._share(arrays)
        frames = self._frames(request, arrays, block)
        try:
            self._socket.send_multipart(frames, copy=False)
        except zmq.Again:
            self._release(block)
            raise TimeoutError(f"the gateway at {self.endpoint} took no request within "
                               f"{self.timeout} s: it refused this client's handshake (a "
                               "CURVE key it does not list, or none where it uses CURVE), "
                               "or it stopped") from None
        now = time.monotonic()
        # frames, first sent, last sent, attempts, block, arrays, and the
        # inputs' time on a slow link: a 256 MiB request sent again after
        # the stall period alone goes out again (and again) on a loaded
        # machine while its first copy is still on its way
        transfer = sum(array.nbytes for array in arrays) / SLOW_LINK
        self._pending[request] = [frames, now, now, 1, block, arrays, transfer]
        self._last_progress = now
        return request

    def _resend_lost(self) -> None:
        """Sends overdue requests again under the same id: those overtaken
        by a later answer for longer than the grace, or all of them when
        nothing has come back for a while (a process died with them)."""
        if self._resend is False or not self._pending:
            return
        now = time.monotonic()
        grace = self._resend or max(0.2, 4 * self._latency)
        # Before any answer there is no latency to go by: wait longer
        stall = self._resend or max(1.0 if self._latency else 5.0, 8 * self._latency)
        stalled = now - self._last_progress > stall
        for request, entry in list(self._pending.items()):
            overtaken = request < self._highest_answered and now - entry[2] > grace
            if overtaken or (stalled and now - entry[2] > stall + entry[6]):
                if entry[3] >= MAX_ATTEMPTS and now - entry[1] > GIVE_UP_AFTER:
                    self._release(self._pending.pop(request)[4])
                    raise ZinferError(request, f"no answer after {MAX_ATTEMPTS} attempts; "
                                      "given up")
                if not self._send_again(entry[0]):
                    continue
                entry[2] = now
                entry[3] += 1
                self.resends += 1
        if stalled:
            self._last_progress = now

    def recv(self, timeout: float | None = None) -> tuple[int, Outputs]:
        """Waits for the next answer; returns (id, outputs), outputs an
        Outputs list (by name too when output_names are known). Raises
        ZinferError for a failed request and TimeoutError when nothing
        comes within timeout seconds."""
        if self._answered:
            request = next(iter(self._answered))
            return request, self._answered.pop(request)
        return self._receive(timeout or self.timeout)

    def _receive(self, timeout: float) -> tuple[int, Outputs]:
        """The next answer off the socket"""
        deadline = time.monotonic() + timeout
        while True:
            self._resend_lost()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from {self.endpoint} within {timeout} s "
                                   f"({self.pending()} pending)")
            if not self._socket.poll(int(min(left, 0.02) * 1000)):
                continue
            frames = self._socket.recv_multipart(copy=False)
            header = msgpack.unpackb(frames[0].bytes)
            request, kind = header[2], header[1]
            if request not in self._pending:
                self.duplicates += 1
                continue        # a duplicate or a stray: not the caller's
            text = header[9] if len(header) > 9 else "failed"
            entry = self._pending[request]
            if kind == ERROR and self._by_reference(entry[0]) and "shared memory:" in text:
                # This gateway will not read our blocks: inline from now on
                if entry[4]:
                    entry[4].close()
                self.shared_memory = False
                entry[4] = None
                entry[0] = self._frames(request, entry[5], None)
                self._send_again(entry[0])
                continue
            if kind == ERROR and text.startswith("busy:") and self._resend is not False:
                # The gateway holds our share of its slots: the request
                # stays pending and goes again as a lost one would
                self.busy += 1
                continue
            if kind == ERROR:
                self._release(self._pending.pop(request)[4])
                raise ZinferError(request, text)
            arrays = [None] * header[5]
            for index in range(0, len(frames), 2):
                part = msgpack.unpackb(frames[index].bytes)
                shape = tuple(part[7])
                data = np.frombuffer(frames[index + 1].buffer, dtype=NUMPY[part[6]])
                arrays[part[4]] = data.reshape(shape).copy()
            outputs = Outputs(arrays, self.output_names)
            now = time.monotonic()
            entry = self._pending.pop(request)
            self._release(entry[4])
            latency = now - entry[1]
            self._latency = latency if not self._latency else 0.9 * self._latency + 0.1 * latency
            self._highest_answered = max(self._highest_answered, request)
            self._last_progress = now
            return request, outputs

    def infer(self, inputs: Inputs, timeout: float | None = None) -> Outputs:
        """Sends one request and returns its outputs. Answers to earlier
        send() calls that come meanwhile are kept for recv()."""
        request = self.send(inputs)
        return self.wait(request, timeout or self.timeout)

    def wait(self, request: int, timeout: float | None = None) -> Outputs:
        """The outputs of one request sent earlier; answers to others that
        come meanwhile are kept for recv() or wait()."""
        if request in self._answered:
            return self._answered.pop(request)
        if request not in self._pending:
            raise KeyError(f"request {request} is not pending")
        timeout = timeout or self.timeout
        deadline = time.monotonic() + timeout
        while True:
            answered, outputs = self._receive(max(0.0, deadline - time.monotonic()))
            if answered == request:
                return outputs
            self._answered[answered] = outputs

    def infer_many(self, requests: Sequence[Inputs], inflight: int = 8,
                   timeout: float | None = None) -> list[Outputs]:
        """Runs many requests with up to `inflight` in flight; returns the
        outputs in the order of the requests."""
        ids, answers, sent = [], {}, 0
        timeout = timeout or self.timeout
        while len(answers) < len(requests):
            while sent < len(requests) and sent - len(answers) < inflight:
                ids.append(self.send(requests[sent]))
                sent += 1
            request, outputs = self._receive(timeout)
            if request in ids:
                answers[request] = outputs
            else:
                self._answered[request] = outputs     # an earlier send()'s
        return [answers[request] for request in ids]
