"""Reading pickles without running code from them.

DeepConf saves its traces as pickles. ``pickle.load`` runs whatever a file's ``__reduce__``
names (``os.system``, ``subprocess.Popen``, ...), so deepprune never calls it on user files.
:func:`load_data_pickle` uses a restricted unpickler (the "Restricting Globals" recipe of the
:mod:`pickle` documentation) that resolves only the globals plain data needs:

* builtin containers and scalars (``dict``, ``list``, ``tuple``, ``set``, ``frozenset``,
  ``int``, ``float``, ``complex``, ``bool``, ``str``, ``bytes``, ``bytearray``),
  ``collections.OrderedDict``;
* numpy arrays, dtypes and scalars (``numpy.ndarray``, ``numpy.dtype``, numpy's
  ``_reconstruct`` / ``scalar`` helpers, under both the numpy 1 ``numpy.core`` and the numpy 2
  ``numpy._core`` module names).

Anything else (a function, a class from another module) raises :class:`~deepprune.core.errors.DataError`
naming the global, *before* it is called: nothing from the file runs. Such a file was not written
as a plain data dump; convert it to JSON in the environment that wrote it.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from deepprune.core.errors import DataError

__all__ = ["ALLOWED_GLOBALS", "load_data_pickle"]

_NUMPY = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
          "numpy._core.numeric")

ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {("builtins", n) for n in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex",
                               "bool", "str", "bytes", "bytearray")}
    | {("collections", "OrderedDict"), ("_codecs", "encode")}
    | {(m, n) for m in _NUMPY for n in ("ndarray", "dtype", "_reconstruct", "scalar", "_frombuffer")}
)
"""(module, name) pairs a data pickle may refer to; everything else is refused."""


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, fh: io.BufferedIOBase, path: Path) -> None:
        super().__init__(fh)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise DataError(
                f"this pickle refers to {module}.{name}, which a trace file has no reason to contain; "
                "deepprune reads pickles as plain data only (containers, numbers, strings, numpy "
                "arrays) and never runs code from them. Convert the file to JSON where it was written",
                path=self._path)
        if module.startswith("numpy"):
            import importlib

            return getattr(importlib.import_module(module), name)
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise DataError("this pickle uses persistent ids, which plain data never needs", path=self._path)


def load_data_pickle(path: str | Path) -> Any:
    """Load a pickle of plain data from ``path`` without executing anything it names.

    >>> import pickle, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "ok.pkl")
    >>> with open(p, "wb") as fh:
    ...     pickle.dump({"traces": [{"text": "x", "confs": [1.5]}]}, fh)
    >>> load_data_pickle(p)["traces"][0]["confs"]
    [1.5]
    """
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            return _DataUnpickler(fh, p).load()
    except FileNotFoundError as exc:
        raise DataError("file not found", path=p) from exc
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            IndexError, KeyError, OverflowError, MemoryError, RecursionError) as exc:
        raise DataError(f"cannot read this pickle as plain data: {type(exc).__name__}: {exc}", path=p) from exc
