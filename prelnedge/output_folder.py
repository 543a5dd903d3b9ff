"""Output folders that appear complete or not at all, and never at the cost of someone else's files.

The rules every stage (export, quantize, report, bundle) follows through this module:
- OUT is written into a hidden sibling `.OUT.partial-OWNER` and renamed to OUT only when finished.
- An existing OUT is replaced only with `force`, and only when it is a folder prelnedge wrote (its
  manifest.json has one of our formats and it holds no file the manifest does not list).
- OUT may not be, contain, or lie inside an input of the run.
- One run at a time writes OUT: an exclusive lock on `.OUT.lock` is held for the whole run, and
  the final rename never replaces a folder that appeared meanwhile (renameat2 RENAME_NOREPLACE).
- Every temporary folder is named `PREFIX + OWNER`, OWNER being the pid and the process's start
  time, so that a later run can tell a dead owner's leftovers (kill -9) from a live run's folder
  and remove them. SIGTERM is turned into KeyboardInterrupt while a folder is open, so that
  SIGINT and SIGTERM clean up like any other failure.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from prelnedge.errors import UserError

# The manifest formats prelnedge writes (prelnedge.artifact reads and writes the manifests themselves).
MODEL_FORMAT = "prelnedge-artifact/1"
# /2: the manifest carries "spec"; /3: the spec's request fields carry roles and it has a decode block
# (the page and the app name no field and keep no decode number); older bundles must be bundled again
BUNDLE_FORMAT = "prelnedge-bundle/3"
REPORT_FORMAT = "prelnedge-report/1"
# a folder whose manifest has one of these is ours (--force may replace it), older bundles included
FORMATS = (MODEL_FORMAT, BUNDLE_FORMAT, "prelnedge-bundle/2", "prelnedge-bundle/1", REPORT_FORMAT)

# ---- owners: pid + start time ---------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the name (state first), or [] where unknown (not Linux, gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rsplit(")", 1)[-1].split()  # the name in (...) may hold spaces


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux /proc), or "" where unknown."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22 of proc(5)


def owner_tag() -> str:
    """This process as `PID-START`: a pid alone may be reused by an unrelated process after a crash."""
    pid = os.getpid()
    return f"{pid}-{_start_time(pid) or 0}"


def owner_alive(tag: str) -> bool:
    pid_text, _, start = tag.partition("-")
    if not pid_text.isdigit():
        return False  # not a name this module gives (an older prelnedge's random suffix): abandoned
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    fields = _stat_fields(pid)
    if fields and fields[0] in ("Z", "X"):
        return False  # killed, not yet reaped by its parent (a shell's `kill -9` then an immediate rerun)
    now = fields[19] if len(fields) > 19 else ""
    return not (start and start != "0" and now and now != start)  # same pid, other process: dead owner


def remove_dead(parent: Path, prefix: str, lock_held: bool = False) -> None:
    """Delete `parent/PREFIX*` entries whose owner process is gone. With `lock_held` the caller holds
    the output lock every writer of these entries held while it wrote them: then any entry but this
    process's own is a dead run's, whatever its pid looks like now (a dying process keeps its pid
    until it is reaped, but the kernel has already dropped its lock)."""
    mine = owner_tag()
    for stale in Path(parent).glob(glob.escape(prefix) + "*"):
        tag = stale.name[len(prefix):]
        if tag == mine or (not lock_held and owner_alive(tag)):
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt inside the block, so that `finally` clean-up runs."""
    def _terminate(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def owned_temp_dir(parent: Path, prefix: str, lock_held: bool = False) -> Iterator[Path]:
    """A fresh folder `parent/PREFIX+OWNER`, removed on exit; dead owners' ones are removed on entry
    (all others' with `lock_held`: see remove_dead)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    remove_dead(parent, prefix, lock_held)
    folder = parent / f"{prefix}{owner_tag()}"
    with sigterm_raises():
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# ---- checks before any work -------------------------------------------------------------------------
def check_target(out: Path, force: bool, inputs: Iterable[Path | None] = ()) -> None:
    """Fail before any work when OUT may not be written: over an input, or existing without
    --force, or existing and not a folder prelnedge wrote."""
    out = Path(out)
    try:
        str(out.absolute()).encode("utf-8")
    except UnicodeEncodeError:  # a name made of bytes that are not UTF-8 (lone surrogates in Python)
        raise UserError(f"output path {os.fsencode(str(out))!r} has bytes that are not UTF-8; ONNX Runtime and LiteRT "
                        "cannot open files under it: choose a UTF-8 name") from None
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise UserError(f"output folder {out} is the current folder or holds it; name a new folder to write")
    check_not_over_inputs(out, inputs)
    if out.is_symlink():
        raise UserError(f"output path {out} is a symbolic link; give the real folder as --out")
    if out.exists():
        if not out.is_dir():
            raise UserError(f"output path {out} exists and is not a folder; choose another --out")
        if not force:
            raise UserError(f"output folder {out} already exists; pass --force to replace it")
        check_replaceable(out)
    check_writable(out.parent)


def check_writable(folder: Path) -> None:
    """The nearest existing folder at or above `folder` must take new entries (a read-only mount, or
    a folder the user may not write, is refused here rather than after the slow work)."""
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write under {existing}: it is a file, not a folder")
    if hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY:  # POSIX only
        raise UserError(f"cannot write under {existing}: the file system is read-only")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write under {existing}: permission denied")


# The installed package is an input of every run: without --model its embedded model
# (default_model/) is the checkpoint, and its data/ files the calibration and evaluation sets.
PACKAGE_DIR = Path(__file__).resolve().parent


def check_not_over_inputs(out: Path, inputs: Iterable[Path | None]) -> None:
    target = Path(out).resolve()
    if target == PACKAGE_DIR or target.is_relative_to(PACKAGE_DIR) or PACKAGE_DIR.is_relative_to(target):
        raise UserError(f"output {out} would write over prelnedge's installed package {PACKAGE_DIR} (its embedded "
                        "model and data are the inputs of runs without --model); choose an output folder outside it")
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if target == source:
            relation = "it is the input itself"
        elif source.is_relative_to(target):
            relation = "the input is inside it"
        elif source.is_dir() and target.is_relative_to(source):
            relation = "it lies inside the input folder"
        else:
            continue
        raise UserError(f"output {out} would write over the input {given} ({relation}); "
                        "choose an output folder outside the inputs")


def check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that holds anything prelnedge did not write. The manifest is read
    leniently here: a broken one only means the folder is not known to be ours."""
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return  # an empty folder holds nothing to lose
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") not in FORMATS:
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise UserError(f"{out} is not a prelnedge output folder (no prelnedge manifest.json; it holds {shown}); "
                        "--force replaces only folders prelnedge wrote: choose another --out or move it away")
    listed = set(manifest.get("files") or {}) | {"manifest.json"}
    extra = []
    for root, dirs, files in os.walk(out):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            relative = os.path.relpath(os.path.join(root, name), out)
            if relative not in listed:
                extra.append(relative)
    if extra:
        shown = ", ".join(sorted(extra)[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        raise UserError(f"{out} holds files prelnedge did not write ({shown}); --force will not delete them: "
                        "move them away first")


# ---- one writer per OUT -----------------------------------------------------------------------------
_held_locks: dict[str, int] = {}  # lock path -> nesting depth in this process (export --quantize nests)


def _lock_path(out: Path) -> Path:
    out = Path(out)
    return out.parent.resolve() / f".{out.name}.lock"


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on OUT for the block, or fail at once naming the run that holds it.
    The lock file is removed on release; a file left by a killed run holds no lock (the kernel
    drops flock locks with the process) and the next run takes it over."""
    import fcntl

    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from None
    path = _lock_path(out)
    key = str(path)
    if key in _held_locks:
        _held_locks[key] += 1
        try:
            yield
        finally:
            _held_locks[key] -= 1
        return
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot write in {path.parent} ({exc.strerror}); choose another --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"another prelnedge run (pid {holder.split('-')[0]}) is writing {out}; "
                            "wait for it to finish or choose another --out") from None
        # the previous holder unlinks the file on release: make sure ours is still the one at `path`
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, owner_tag().encode())
    _held_locks[key] = 1
    try:
        yield
    finally:
        del _held_locks[key]
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)


# ---- the final rename -------------------------------------------------------------------------------
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Linux renameat2; False where the C library or the filesystem does not offer it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return False
    if function(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(dst))


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename src to dst; FileExistsError if dst exists, however late it appeared."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    # Portable fallback: claim dst as an empty folder (mkdir is atomic), then rename over it;
    # rename fails if anything was written into the claimed folder meanwhile.
    os.mkdir(dst)
    try:
        os.rename(src, dst)
    except OSError as exc:
        raise FileExistsError(errno.EEXIST, "appeared while renaming", str(dst)) from exc


def _replace(work: Path, out: Path) -> None:
    """Swap the finished folder into OUT; the old OUT ends up at `work` (the caller deletes it)."""
    if _renameat2(work, out, _RENAME_EXCHANGE):
        return  # atomic: OUT is never missing
    trash = out.parent / f".{out.name}.replaced-{owner_tag()}"
    out.rename(trash)
    rename_noreplace(work, out)
    trash.rename(work)


@contextmanager
def atomic_folder(out: Path, force: bool, inputs: Iterable[Path | None] = ()) -> Iterator[Path]:
    """Yield a work folder; on success it becomes `out`, on any failure it is deleted."""
    out = Path(out)
    inputs = tuple(inputs)
    check_target(out, force, inputs)
    with sigterm_raises(), output_lock(out):
        check_target(out, force, inputs)  # again, now that no other prelnedge run can write OUT
        for kind in ("partial", "replaced"):
            remove_dead(out.parent, f".{out.name}.{kind}-", lock_held=True)
        work = out.parent / f".{out.name}.partial-{owner_tag()}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            work.mkdir()
        except OSError as exc:  # the checks above ran before the slow work; the file system may still refuse
            raise UserError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from None
        try:
            yield work
            _publish(work, out, force)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)


def _publish(work: Path, out: Path, force: bool) -> None:
    appeared = (f"{out} appeared while this run was writing it (another program?); it was left as it is "
                "and this run's result discarded")
    if force and os.path.lexists(out):
        check_replaceable(out)  # what is there now, not what was there when the run started
        _replace(work, out)
        return
    try:
        rename_noreplace(work, out)
    except FileExistsError:
        raise UserError(appeared + ("" if force else "; pass --force to replace it")) from None
