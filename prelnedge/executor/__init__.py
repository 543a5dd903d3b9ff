"""One executor for cells (report cells, tune candidates): in this process (the default) or on a Ray
cluster. A cell is an importable function and its content-hashed inputs (prelnedge.executor.cell);
the executor runs each where it can, retries faults a bounded number of times, and hands every
outcome back to the driver, which alone writes output folders.

    with open_executor(ExecutorConfig(backend="ray")) as executor:
        for outcome in executor.run(cells, into=scratch, progress=bar):
            ...

The scheduling (dependencies, retries, the bar's counts) is here, once; a backend only starts an
attempt and says when one finished (LocalBackend below, prelnedge.executor.on_ray.RayBackend).
Retries are the driver's, not Ray's own max_retries, so that the bar can count them and the
outcome say how many attempts a cell took.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from prelnedge.errors import UserError
from prelnedge.executor.cell import After, Cell, Outcome, cell_keys, execute, fault_reason, folder_name

__all__ = ["After", "Cell", "Outcome", "ExecutorConfig", "Executor", "open_executor", "BACKENDS"]

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class ExecutorConfig:
    backend: str = "local"
    # Every cell holds its libraries to this many threads, here or on Ray: a float sum's order follows
    # the thread count, so the same count is what gives the same figures wherever a cell runs (and
    # on a busy machine one thread per cell also avoids spinning thread pools fighting for cores).
    cpus_per_cell: int = 1
    retries: int = 2  # further attempts after a fault (a raise other than a verdict, a dead worker)
    address: str | None = None  # Ray: None reads RAY_ADDRESS, else starts a local Ray
    local_cpus: int | None = None  # Ray started here: the CPUs it may use (None: all)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"unknown executor {self.backend!r}; allowed: {', '.join(BACKENDS)}")
        if self.cpus_per_cell < 1:
            raise UserError(f"cpus per cell must be 1 or more, not {self.cpus_per_cell}")
        if self.retries < 0:
            raise UserError(f"retries must be 0 or more, not {self.retries}")


class LocalBackend:
    """Each attempt runs in this process, one at a time, when the driver asks for the next result."""

    description = "local (in this process)"

    def __init__(self, cfg: ExecutorConfig) -> None:
        self.cfg = cfg
        self.queue: list[tuple[Cell, int | None]] = []
        self.into: Path | None = None

    def running(self) -> int:
        return min(len(self.queue), 1)

    def submit(self, cell: Cell, cpus: int | None) -> None:
        self.queue.append((cell, cpus))

    def next(self):
        from prelnedge.quiet import captured_stderr

        cell, cpus = self.queue.pop(0)
        out = self.into / folder_name(cell.name)
        shutil.rmtree(out, ignore_errors=True)  # a failed attempt's leftovers
        inputs = {k: self.into / folder_name(v.name) if isinstance(v, After) else v for k, v in cell.inputs.items()}
        try:
            with captured_stderr():  # the libraries' chatter would break the bar
                return cell.name, execute(cell.fn, inputs, out, cpus), None
        except Exception as exc:  # noqa: BLE001 - any fault is retried, then reported with its reason
            return cell.name, None, exc

    def folder(self, name: str) -> Path | None:
        out = self.into / folder_name(name)
        return out if out.exists() else None

    def cancel(self) -> None:
        self.queue.clear()

    def close(self) -> None:
        pass


class Executor:
    def __init__(self, cfg: ExecutorConfig, backend) -> None:
        self.cfg, self.backend = cfg, backend

    @property
    def description(self) -> str:
        return self.backend.description

    def run(self, cells: list[Cell], into: Path, progress=None) -> Iterator[Outcome]:
        """Outcomes as the cells finish. A cell starts once every After input finished ok; one whose
        input did not is failed without running. Ctrl-C cancels what is still running."""
        keys = cell_keys(cells)
        self.backend.into = Path(into)
        waiting = list(cells)
        outcomes: dict[str, Outcome] = {}
        attempts = {cell.name: 0 for cell in cells}
        by_name = {cell.name: cell for cell in cells}
        counts = {"done": 0, "failed": 0, "retried": 0}

        def show() -> None:
            if progress is not None:
                progress.update(total=len(cells), running=self.backend.running(), **counts)

        def finish(outcome: Outcome) -> Outcome:
            outcomes[outcome.name] = outcome
            counts["done"] += 1
            counts["failed"] += outcome.status == "failed"
            show()
            return outcome

        def start(cell: Cell) -> None:
            attempts[cell.name] += 1
            self.backend.submit(cell, cell.cpus or self.cfg.cpus_per_cell)

        try:
            while len(outcomes) < len(cells):
                for cell in list(waiting):
                    needs = cell.needs()
                    broken = [n for n in needs if n in outcomes and outcomes[n].status != "ok"]
                    if broken:
                        waiting.remove(cell)
                        yield finish(Outcome(cell.name, keys[cell.name], "failed", attempts=0,
                                             reason=f"not run: its input {broken[0]} did not complete "
                                                    f"({outcomes[broken[0]].status})",
                                             fault=outcomes[broken[0]].fault))
                    elif all(n in outcomes for n in needs):
                        waiting.remove(cell)
                        start(cell)
                show()
                if not self.backend.running():
                    continue  # only cells failed for a broken input were settled this round
                name, result, exc = self.backend.next()
                cell = by_name[name]
                if exc is not None:
                    if attempts[name] <= self.cfg.retries:
                        counts["retried"] += 1
                        start(cell)
                        continue
                    yield finish(Outcome(name, keys[name], "failed", reason=fault_reason(exc), fault=True,
                                         attempts=attempts[name]))
                    continue
                yield finish(Outcome(name, keys[name], result["status"], figures=result.get("figures"),
                                     folder=self.backend.folder(name) if result["status"] == "ok" else None,
                                     reason=result.get("reason"), attempts=attempts[name],
                                     node=result.get("node"), seconds=result.get("seconds")))
        except BaseException:  # Ctrl-C, SIGTERM (output_folder turns it into KeyboardInterrupt), a bug
            self.backend.cancel()
            raise


@contextmanager
def open_executor(cfg: ExecutorConfig) -> Iterator[Executor]:
    """The executor cfg names, connected before any work (an unreachable Ray cluster is a UserError)."""
    if cfg.backend == "ray":
        from prelnedge.executor.on_ray import RayBackend

        backend = RayBackend(cfg)
    else:
        backend = LocalBackend(cfg)
    try:
        yield Executor(cfg, backend)
    finally:
        backend.close()
