"""Secrets at rest: an environment variable, or a file outside the repository that only its owner can read.

Nothing here logs or prints a secret; errors name the variable or the file, never the value.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

from crm_sync.config import ConfigError

DEFAULT_DIR = Path("~/.config/crm-sync")


def env_value(name: str, required: bool = True) -> str | None:
    """A setting of a real connection from the environment variable sync.yaml names."""
    value = os.environ.get(name)
    if not value and required:
        raise ConfigError(f"environment variable {name} is not set (sync.yaml names it for a real connection)")
    return value or None


def sandbox_settings(directory: Path) -> dict:
    """A running sandbox's settings (sandbox.json): its URLs, CA and credentials."""
    path = directory / "sandbox.json"
    if not path.exists():
        raise ConfigError(f"{path} not found: start the sandbox (crm-sync sandbox up --dir {directory}) or point "
                          "connections.*.sandbox_dir at a running one")
    return json.loads(path.read_text())


def read_secret(value_env: str | None, file_env: str | None, what: str) -> str:
    """The secret from the environment variable `value_env`, or from the file `file_env` names."""
    value = os.environ.get(value_env) if value_env else None
    if value:
        return value
    path = os.environ.get(file_env) if file_env else None
    if not path:
        names = " or ".join(n for n in (value_env, file_env and f"{file_env} (a file)") if n)
        raise ConfigError(f"{what}: set {names} (sync.yaml names them for this connection)")
    return read_secret_file(Path(path).expanduser(), what)


def read_secret_file(path: Path, what: str) -> str:
    if not path.is_file():
        raise ConfigError(f"{what}: {path} is not a file")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{what}: {path} can be read by others than its owner (mode {stat.filemode(mode)}); "
                          f"run: chmod 600 {path}")
    text = path.read_text().strip()
    if not text:
        raise ConfigError(f"{what}: {path} is empty")
    return text


def save_secret(path: Path, value: str) -> Path:
    """Write a secret to `path` (created owner-only, 0600; its folder 0700 when made here). A path inside a git
    working tree is refused: it could be committed."""
    path = path.expanduser().resolve()
    existing = next(p for p in path.parents if p.exists())
    tree = _work_tree(existing)
    if tree is not None and path.is_relative_to(tree):
        raise ConfigError(f"{path} is inside the git working tree {tree}: keep secrets outside the repository "
                          f"(e.g. {DEFAULT_DIR}/...)")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT: set it
    return path


def _work_tree(start: Path) -> Path | None:
    try:
        out = subprocess.run(["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 and out.stdout.strip() else None
