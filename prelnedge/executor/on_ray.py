"""The Ray backend: each attempt is a Ray task with the cell's CPUs; no shared filesystem.

Path inputs are tarred once each into the object store (ray.put) and an After input is the
producing task's own tar result, passed by reference, so a float export goes from the node that made
it to the nodes that quantize it without passing through the driver. Results (figures and the
artifact's tar) come back to the driver, which unpacks the artifacts it needs.

The driver's prelnedge package travels to the workers (runtime_env py_modules): every node runs the
same prelnedge code as the driver, and needs only its dependencies installed.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path

import ray

from prelnedge.errors import UserError
from prelnedge.executor.cell import After, Cell, execute, folder_name, pack, unpack

CONNECT_TIMEOUT_S = 5.0


def _attempt(fn: str, plain: dict, packed_names: list[str], cpus: int, *packed: bytes):
    """One attempt on a worker: unpack the inputs, run the cell, pack its `out` folder."""
    with tempfile.TemporaryDirectory(prefix="prelnedge-cell-") as scratch:
        inputs = dict(plain)
        for name, data in zip(packed_names, packed):
            inputs[name] = unpack(data, Path(scratch) / "in" / name)
        out = Path(scratch) / "out"
        result = execute(fn, inputs, out, cpus)
        result["node"] = f"{result['node']} ({ray.util.get_node_ip_address()})"
        return result, pack(out) if result["status"] == "ok" and out.exists() else b""


_remote_attempt = ray.remote(_attempt)


def _host_port(address: str) -> tuple[str, int] | None:
    """host and port of a `host:port` or `ray://host:port` address; None for `auto`/`local`."""
    bare = address.split("://", 1)[-1]
    host, _, port = bare.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def check_reachable(address: str) -> None:
    """One line, before any work, when nothing answers at the cluster's address (ray.init would
    otherwise retry for a minute and print a page of log)."""
    where = _host_port(address)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(f"cannot reach the Ray cluster at {address} ({reason}); start its head with "
                        "`ray start --head`, or unset RAY_ADDRESS to run on a local Ray") from None


def _use_token_if_any() -> None:
    """A head started by `ray start` (Ray 2.60) takes token-authenticated drivers only, and a driver
    sends its token only in token mode: use the token this machine has (the head's ~/.ray/auth_token,
    copied to every node, or RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH) unless RAY_AUTH_MODE says otherwise."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or \
            (Path.home() / ".ray" / "auth_token").is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        from ray._raylet import Config

        Config.initialize("")  # Ray read the mode when imported; this is how it refreshes it itself


@contextmanager
def _quiet_fd2():
    """Ray's C++ client logs each failed connection try to fd 2; the UserError says it in one line.
    --debug (quiet.enabled False) leaves them on the terminal."""
    from prelnedge import quiet

    if not quiet.enabled:
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class RayBackend:
    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.into: Path | None = None
        self._running: dict = {}  # result ref -> (name, artifact ref)
        self._artifacts: dict[str, ray.ObjectRef] = {}
        self._puts: dict[str, ray.ObjectRef] = {}
        address = cfg.address or os.environ.get("RAY_ADDRESS") or None
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves this machine unasked
        if address:
            check_reachable(address)
            _use_token_if_any()
        package = Path(__file__).resolve().parents[1]  # the prelnedge folder (importing it would climb the layers)
        options = {"runtime_env": {"py_modules": [str(package)]},
                   "log_to_driver": False, "logging_level": logging.ERROR, "include_dashboard": False}
        if not address:
            options["num_cpus"] = cfg.local_cpus
        try:
            with _quiet_fd2():
                ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"cannot start or reach {where} ({first})") from None
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        self.description = (f"ray ({address or 'local Ray on this machine'}: {len(nodes)} node(s), "
                            f"{int(ray.cluster_resources().get('CPU', 0))} CPUs)")

    def running(self) -> int:
        return len(self._running)

    def _put(self, path: Path) -> ray.ObjectRef:
        key = str(Path(path).resolve())
        if key not in self._puts:
            self._puts[key] = ray.put(pack(path))
        return self._puts[key]

    def submit(self, cell: Cell, cpus: int | None) -> None:
        plain, names, packed = {}, [], []
        for name, value in cell.inputs.items():
            if isinstance(value, After):
                names.append(name)
                packed.append(self._artifacts[value.name])
            elif isinstance(value, Path):
                names.append(name)
                packed.append(self._put(value))
            else:
                plain[name] = value
        result, artifact = _remote_attempt.options(num_cpus=cpus, num_returns=2, max_retries=0,
                                                   name=f"prelnedge:{cell.name}").remote(cell.fn, plain, names,
                                                                                        cpus, *packed)
        self._running[result] = (cell.name, artifact)

    def next(self):
        ready: list = []
        while not ready:  # short waits, so that Ctrl-C reaches the driver at once
            ready, _ = ray.wait(list(self._running), num_returns=1, timeout=0.5)
        name, artifact = self._running.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayError as exc:  # the cell raised, or its worker or node died
            try:
                ray.get(artifact)  # the same error: fetched, so Ray does not log it as unhandled
            except ray.exceptions.RayError:
                pass
            cause = getattr(exc, "cause", None)
            return name, None, cause if isinstance(cause, BaseException) else exc
        if result["status"] == "ok":
            self._artifacts[name] = artifact
        return name, result, None

    def folder(self, name: str) -> Path | None:
        data = ray.get(self._artifacts[name])
        if not data:
            return None
        landing = unpack(data, self.into / f".{folder_name(name)}.unpacking")
        target = self.into / folder_name(name)
        landing.rename(target)
        landing.parent.rmdir()
        return target

    def cancel(self) -> None:
        for ref in list(self._running):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - a task that finished meanwhile cannot be cancelled
                pass
        self._running.clear()

    def close(self) -> None:
        ray.shutdown()
