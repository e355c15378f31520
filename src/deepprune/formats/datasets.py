"""Datasets shipped inside the package, addressed by name (``default``) anywhere a path is taken.

A shipped dataset is ``src/deepprune/data/<name>.jsonl.gz`` (format ``deepprune/traces-v1``)
with a datasheet ``<name>.md`` beside it. ``default`` is an alias of :data:`DEFAULT_DATASET`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from deepprune.core.errors import DataError

__all__ = ["DEFAULT_DATASET", "ShippedDataset", "resolve", "shipped"]

DEFAULT_DATASET = "qwen25coder05b_math_gsm8k"
"""The shipped dataset that the name ``default`` stands for."""


@dataclass(frozen=True)
class ShippedDataset:
    name: str
    path: Path
    datasheet: Path | None


def _data_dir() -> Path:
    return Path(str(resources.files("deepprune") / "data"))


def shipped() -> list[ShippedDataset]:
    """The datasets in the package."""
    d = _data_dir()
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.glob("*.jsonl.gz")):
        name = p.name[: -len(".jsonl.gz")]
        sheet = p.with_name(name + ".md")
        out.append(ShippedDataset(name, p, sheet if sheet.exists() else None))
    return out


def resolve(name_or_path: str | Path) -> Path:
    """A path for a file path or a shipped dataset's name (``default`` included)."""
    s = str(name_or_path)
    p = Path(s)
    if p.exists():
        return p
    name = DEFAULT_DATASET if s == "default" else s
    for ds in shipped():
        if ds.name == name:
            return ds.path
    if s == "default" or ("/" not in s and "." not in s):
        names = ", ".join(d.name for d in shipped()) or "none"
        raise DataError(f"no file and no shipped dataset named {s!r} (shipped: {names})", path=s)
    raise DataError("file not found", path=s)
