"""File helpers: atomic writes, so a reader never sees a half-written output and a failed step
keeps the old one, and YAML reading whose errors give the line."""

import json
import os
import tempfile
from pathlib import Path

import yaml

from .errors import LivedeckError


def temporary_path(target: Path, suffix: str = "") -> Path:
    """Return a fresh, unique path next to `target` for writing before a rename.

    mkstemp creates the file with a random name, so parallel builds never share one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(handle)
    return Path(name)


def publish(tmp: Path, target: Path) -> None:
    """Give a finished temporary file ordinary permissions and rename it over `target`."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, target)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target`, flush it to disk, then rename it over `target`."""
    tmp = temporary_path(target)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


def read_yaml(path: Path, shown_as: str, code: str):
    """Parse a YAML file; a syntax error raises LivedeckError with `shown_as` and the line."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise LivedeckError(code, f"{shown_as}{where}: invalid YAML: {error}") from None


def write_json_atomic(target: Path, value) -> None:
    """Write `value` as indented JSON; NaN and infinities are rejected rather than written as invalid JSON."""
    text = json.dumps(value, indent=1, sort_keys=False, allow_nan=False, ensure_ascii=False)
    write_text_atomic(target, text + "\n")
