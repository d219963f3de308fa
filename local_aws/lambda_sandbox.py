"""Where Lambda handlers run: an unprivileged user, and an interpreter that user can execute.

Uploaded code is untrusted. When the server runs as root, every handler process is started as
the system user ``local_aws_lambda`` (created with ``useradd --system`` if missing; ``nobody``
if it cannot be created), with no supplementary groups. That user cannot read the server's
memory or environment through ``/proc``, signal it, or read or write a state dir that is not
world-accessible.

The handler must still be able to execute Python and import the standard library and boto3.
When the server's interpreter or its site-packages sit where that user cannot reach them (a
pyenv build under ``/root``, a venv in a 0700 home), they are mirrored, once, into
``/var/lib/local_aws/lambda-runtime``: a root-owned, read-only tree of hard links (copies
across file systems) of the executable, ``libpython`` and the standard library. The mirror is
keyed by the source's path and modification time, so an upgraded interpreter gets a new one.
Nothing of the checkout is chmodded.

When the server does not run as root, there is no other user to switch to: handlers run as the
server's own user, in a separate process with a scrubbed environment (see the LIMITATIONS of
`local_aws.components.lambda_environment`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
from dataclasses import dataclass

log = logging.getLogger("local_aws.lambda")

SANDBOX_USER = "local_aws_lambda"
FALLBACK_USER = "nobody"
RUNTIME_CACHE = "/var/lib/local_aws/lambda-runtime"
# Parts of the standard library a handler never needs; leaving them out keeps the mirror small.
_STDLIB_SKIP = frozenset({"site-packages", "test", "idlelib", "tkinter", "turtledemo", "__phello__"})


@dataclass(frozen=True)
class Sandbox:
    """How to start a handler process: as whom, with which interpreter and import path."""

    uid: int | None
    gid: int | None
    python: str
    site_dirs: tuple[str, ...]
    library_path: str | None = None

    @property
    def isolated(self) -> bool:
        """True when handlers run as a user other than the server's."""
        return self.uid is not None


_lock = threading.Lock()
_prepared: Sandbox | None = None


def sandbox() -> Sandbox:
    """The sandbox of this process, prepared on first use (it may create a user and a mirror)."""
    global _prepared
    with _lock:
        if _prepared is None:
            _prepared = _prepare()
        return _prepared


def _prepare() -> Sandbox:
    site_dirs = tuple(d for d in dict.fromkeys(site.getsitepackages()) if os.path.isdir(d))
    if os.geteuid() != 0:
        return Sandbox(None, None, sys.executable, site_dirs)
    uid, gid = sandbox_user()
    python, library_path = sys.executable, None
    stdlib = sysconfig.get_paths()["stdlib"]
    if not (reachable(sys.executable, uid, gid) and reachable(stdlib, uid, gid)):
        python, library_path = _mirrored_interpreter()
    mirrored_sites = tuple(d if reachable(d, uid, gid) else _mirrored_tree(d, "site") for d in site_dirs)
    return Sandbox(uid, gid, python, mirrored_sites, library_path)


# -- the user -------------------------------------------------------------------------------
def sandbox_user() -> tuple[int, int]:
    """Uid and gid of the sandbox user, created if missing (the caller runs as root)."""
    try:
        entry = pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        _create_user()
        try:
            entry = pwd.getpwnam(SANDBOX_USER)
        except KeyError:
            log.warning(
                "could not create the user %s; Lambda handlers run as %s", SANDBOX_USER, FALLBACK_USER
            )
            entry = pwd.getpwnam(FALLBACK_USER)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise RuntimeError(f"the Lambda sandbox user {entry.pw_name} must not be root")
    return entry.pw_uid, entry.pw_gid


def _create_user() -> None:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    command = [
        useradd,
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        "--comment",
        "local_aws Lambda handlers",
        SANDBOX_USER,
    ]
    try:
        # A concurrent server may win the race: "already exists" is then fine.
        subprocess.run(command, capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("useradd failed: %s", error)


# -- what the user can reach ----------------------------------------------------------------
def _allows(info: os.stat_result, uid: int, gid: int, wanted: int) -> bool:
    if info.st_uid == uid:
        bits = (info.st_mode >> 6) & 7
    elif info.st_gid == gid:
        bits = (info.st_mode >> 3) & 7
    else:
        bits = info.st_mode & 7
    return bits & wanted == wanted


def reachable(path: str, uid: int, gid: int) -> bool:
    """Whether that user (no supplementary groups) can traverse to ``path`` and read it."""
    for candidate in dict.fromkeys([os.path.abspath(path), os.path.realpath(path)]):
        parent = os.path.dirname(candidate)
        while True:
            try:
                if not _allows(os.stat(parent), uid, gid, 1):
                    return False
            except OSError:
                return False
            if parent == os.path.dirname(parent):
                break
            parent = os.path.dirname(parent)
    try:
        info = os.stat(path)
    except OSError:
        return False
    return _allows(info, uid, gid, 5 if stat.S_ISDIR(info.st_mode) else 4)


# -- mirrors --------------------------------------------------------------------------------
def _cache_root() -> str:
    """A root-owned directory every user can traverse and only root can write."""
    try:
        for path in (os.path.dirname(RUNTIME_CACHE), RUNTIME_CACHE):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o755)
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
                raise PermissionError(f"{path} is not a directory that only root can write")
            os.chmod(path, 0o755)  # a umask of 077 would hide the mirror from the sandbox user
        return RUNTIME_CACHE
    except OSError as error:
        fallback = tempfile.mkdtemp(prefix="local_aws-lambda-runtime-")
        os.chmod(fallback, 0o755)
        log.warning(
            "cannot use %s (%s); mirroring the Python runtime into %s", RUNTIME_CACHE, error, fallback
        )
        return fallback


def _key(*paths: str) -> str:
    parts = [f"{p}:{os.stat(p).st_mtime_ns}" for p in paths]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _publish(target: str, build: object) -> str:
    """Build into a staging dir next to ``target`` and rename it into place (first one wins)."""
    if os.path.isdir(target):
        return target
    staging = tempfile.mkdtemp(dir=os.path.dirname(target), prefix=".staging-")
    try:
        build(staging)  # type: ignore[operator]
        os.chmod(staging, 0o755)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isdir(target):
            raise
    return target


def _link_tree(source: str, target: str, skip: frozenset[str] = frozenset()) -> None:
    """Hard-link every file of ``source`` under ``target``; copy when linking is impossible."""
    for root, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if not (root == source and d in skip)]
        here = os.path.join(target, os.path.relpath(root, source))
        os.makedirs(here, exist_ok=True)
        os.chmod(here, 0o755)
        for name in files:
            src, dst = os.path.join(root, name), os.path.join(here, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
                continue
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def _mirrored_interpreter() -> tuple[str, str]:
    """The interpreter, libpython and stdlib, where the sandbox user can run them."""
    executable = os.path.realpath(sys.executable)
    stdlib = sysconfig.get_paths()["stdlib"]
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or ""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = os.path.join(_cache_root(), f"{version}-{_key(executable, stdlib)}")

    def build(staging: str) -> None:
        os.makedirs(os.path.join(staging, "bin"), mode=0o755)
        os.makedirs(os.path.join(staging, "lib"), mode=0o755)
        _link_file(executable, os.path.join(staging, "bin", version))
        shared = os.path.join(libdir, soname)
        if ".so" in soname and os.path.isfile(shared):
            _link_file(shared, os.path.join(staging, "lib", soname))
        # Python finds its prefix from lib/pythonX.Y/os.py next to bin/: the mirror is one.
        _link_tree(stdlib, os.path.join(staging, "lib", version), _STDLIB_SKIP)

    log.info("mirroring %s for the Lambda sandbox into %s", executable, target)
    _publish(target, build)
    return os.path.join(target, "bin", version), os.path.join(target, "lib")


def _link_file(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _mirrored_tree(source: str, kind: str) -> str:
    target = os.path.join(_cache_root(), f"{kind}-{_key(source)}")
    log.info("mirroring %s for the Lambda sandbox into %s", source, target)
    return _publish(target, lambda staging: _link_tree(source, staging))


__all__ = ["SANDBOX_USER", "Sandbox", "reachable", "sandbox", "sandbox_user"]
