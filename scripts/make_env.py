"""Write the `.env` that docker-compose.yaml takes its secrets from: random values, readable by you alone.

    python3 scripts/make_env.py            # (make env) creates .env beside docker-compose.yaml
    python3 scripts/make_env.py --force    # replaces every secret (sessions and the login change)

Compose reads `.env` from the project folder and refuses to start without it (every secret is a
`${NAME:?...}` there). The file is created 0600 and never overwritten: an existing `.env` keeps its
values, gets only the names it lacks (say, one that holds just `AIRFLOW_UID`, as Airflow's own
instructions write it), and is made 0600 if it was readable by others. `--force` writes every secret
anew. The standard library only, so it runs before `.venv` exists.

The Fernet key encrypts connections and variables in the metadata database: replacing it (`--force`)
makes the ones already stored unreadable, so do that only with a fresh database (`docker compose down -v`).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO / ".env"
# Airflow's image runs as uid 50000 by default; root on the host maps to that rather than to root.
_DEFAULT_UID = 50000


def _fernet_key() -> str:
    # What cryptography's Fernet.generate_key() returns: 32 random bytes, URL-safe base64.
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _airflow_uid() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else _DEFAULT_UID
    return str(uid or _DEFAULT_UID)


#: name -> how to make its value. Hex and URL-safe values need no quoting in .env or in a database URL.
VALUES: dict[str, Callable[[], str]] = {
    "AIRFLOW_UID": _airflow_uid,
    "AIRFLOW_FERNET_KEY": _fernet_key,
    "AIRFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    "AIRFLOW_API_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "AIRFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(18),
    "POSTGRES_PASSWORD": lambda: secrets.token_hex(24),
}
#: The names that are secrets (AIRFLOW_UID is not): --force replaces these.
SECRETS = [name for name in VALUES if name != "AIRFLOW_UID"]


def defined_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].removeprefix("export ").strip())
    return names


def _lines(names: list[str]) -> str:
    return "".join(f"{name}={VALUES[name]()}\n" for name in names)


def _header() -> str:
    return (
        "# Secrets for docker-compose.yaml, written by scripts/make_env.py (make env). Never commit this file.\n"
        "# The admin login is admin / AIRFLOW_ADMIN_PASSWORD.\n"
    )


def create(path: Path) -> None:
    """Create `path` 0600 with every value; fails if it exists (O_EXCL: no race with another writer)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(_header() + _lines(list(VALUES)))


def replace(path: Path) -> None:
    """Write every secret anew, keeping the file's other lines; atomically, 0600 from the first byte."""
    existing = path.read_text() if path.exists() else ""
    header = _header()
    kept = [
        line
        for line in existing.splitlines(keepends=True)
        if line not in header and not (defined_names(line) & set(SECRETS))
    ]
    kept = [line if line.endswith("\n") else line + "\n" for line in kept]
    uid = [] if "AIRFLOW_UID" in defined_names("".join(kept)) else ["AIRFLOW_UID"]
    body = header + "".join(kept) + _lines(uid + SECRETS)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".env.")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(body)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def complete(path: Path) -> list[str]:
    """Append the names an existing file lacks (never changing a value it has); make it 0600."""
    text = path.read_text()
    missing = [name for name in VALUES if name not in defined_names(text)]
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)
    if missing:
        with path.open("a") as out:
            out.write(("" if text.endswith("\n") or not text else "\n") + _lines(missing))
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--path", type=Path, default=DEFAULT_PATH, help=f"where to write (default {DEFAULT_PATH})"
    )
    parser.add_argument("--force", action="store_true", help="replace every secret in an existing file")
    args = parser.parse_args(argv)
    path: Path = args.path
    if not path.parent.is_dir():
        print(f"make_env: {path.parent} is not a folder", file=sys.stderr)
        return 2
    if args.force:
        replace(path)
        print(f"wrote new secrets to {path} (0600)")
    elif not path.exists():
        try:
            create(path)
        except FileExistsError:  # another writer won the race: theirs stands
            print(f"{path} appeared meanwhile: kept it")
            return 0
        print(f"wrote {path} (0600): the admin password is its AIRFLOW_ADMIN_PASSWORD")
    else:
        added = complete(path)
        what = f"added {', '.join(added)}" if added else "nothing to add"
        print(f"kept the existing {path} ({what}; --force replaces every secret)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
