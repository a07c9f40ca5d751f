"""Plain data across the kernel boundary, as JSON.

What may cross: ``None``, booleans, integers, floats, complex numbers, strings,
NumPy arrays and scalars of numbers or text, and lists, tuples and string-keyed
dicts of these. Arrays travel as ``.npy`` bytes read back with
``allow_pickle=False``, so nothing decoded here can run code or be an object that
lies about itself. Functions cross as handles the caller resolves: ``on_callable``
turns a function into a handle when encoding, ``on_handle`` a handle back into a
function when decoding.

Both sides import this module; only the grader's :func:`decode` is a boundary.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_BYTES = 64 * 1024**2
MAX_DEPTH = 32
_ARRAY_KINDS = frozenset("biufcUS")


class WireError(ValueError):
    """A value that is not plain data, or a message that is not well formed."""


def encode(value: Any, on_callable: Callable[[Any], Any] | None = None) -> Any:
    """``value`` as JSON-ready data; raises :class:`WireError` for anything else."""
    return _encode(value, on_callable, 0)


def _encode(value: Any, on_callable: Callable[[Any], Any] | None, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH} levels")
    if value is None:
        return {"none": True}
    if isinstance(value, (np.ndarray, np.generic)):
        return _encode_array(value)
    if type(value) is bool:
        return {"bool": value}
    if type(value) is int:
        return {"int": str(value)}
    if type(value) is float:
        return {"float": repr(value)}
    if type(value) is complex:
        return {"complex": [repr(value.real), repr(value.imag)]}
    if type(value) is str:
        return {"str": value}
    if type(value) in (list, tuple):
        items = [_encode(item, on_callable, depth + 1) for item in value]
        return {type(value).__name__: items}
    if type(value) is dict and all(type(key) is str for key in value):
        pairs = [[key, _encode(item, on_callable, depth + 1)] for key, item in value.items()]
        return {"dict": pairs}
    if callable(value) and on_callable is not None:
        return {"handle": on_callable(value)}
    raise WireError(f"a {type(value).__name__} is not plain data (numbers, arrays, strings)")


def _encode_array(value: np.ndarray | np.generic) -> dict:
    array = np.asarray(value)
    if array.dtype.kind not in _ARRAY_KINDS or array.dtype.names is not None:
        raise WireError(f"an array of dtype {array.dtype} is not plain data")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    key = "scalar" if isinstance(value, np.generic) else "array"
    return {key: base64.b64encode(buffer.getvalue()).decode("ascii")}


def dumps(value: Any, on_callable: Callable[[Any], Any] | None = None) -> str:
    return json.dumps(encode(value, on_callable))


def decode(data: Any, on_handle: Callable[[Any], Any] | None = None) -> Any:
    """The value :func:`encode` made ``data`` from; raises :class:`WireError` otherwise."""
    try:
        return _decode(data, on_handle, 0)
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as error:
        raise WireError(f"malformed data: {type(error).__name__}: {error}") from None


def loads(text: str, on_handle: Callable[[Any], Any] | None = None) -> Any:
    if len(text) > MAX_BYTES:
        raise WireError(f"{len(text)} bytes, more than the {MAX_BYTES} allowed")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise WireError(f"not JSON: {error}") from None
    return decode(data, on_handle)


def _decode(data: Any, on_handle: Callable[[Any], Any] | None, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError(f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict) or len(data) != 1:
        raise WireError("malformed data: expected one tagged value")
    ((tag, content),) = data.items()
    if tag == "none":
        return None
    if tag == "bool" and isinstance(content, bool):
        return content
    if tag == "int" and isinstance(content, str) and len(content) <= 4300:
        return int(content)
    if tag == "float" and isinstance(content, str):
        return _float(content)
    if tag == "complex" and isinstance(content, list) and len(content) == 2:
        return complex(_float(content[0]), _float(content[1]))
    if tag == "str" and isinstance(content, str):
        return content
    if tag in ("array", "scalar") and isinstance(content, str):
        array = _decode_array(content)
        return array[()] if tag == "scalar" else array
    if tag in ("list", "tuple") and isinstance(content, list):
        items = [_decode(item, on_handle, depth + 1) for item in content]
        return items if tag == "list" else tuple(items)
    if tag == "dict" and isinstance(content, list):
        pairs = {}
        for pair in content:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise WireError("malformed data: a dict entry is not a [key, value] pair")
            pairs[pair[0]] = _decode(pair[1], on_handle, depth + 1)
        return pairs
    if tag == "handle" and on_handle is not None:
        return on_handle(content)
    raise WireError(f"malformed data: unknown or ill-typed tag {tag!r}")


def _float(text: Any) -> float:
    if not isinstance(text, str) or len(text) > 64:
        raise WireError("malformed data: a float is not a short string")
    return float(text)


def _decode_array(content: str) -> np.ndarray:
    raw = base64.b64decode(content.encode("ascii"), validate=True)
    stream = io.BytesIO(raw)
    # The header names the size; refuse one the bytes do not hold before numpy allocates it.
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    if dtype.kind not in _ARRAY_KINDS or dtype.names is not None:
        raise WireError(f"an array of dtype {dtype} is not plain data")
    if math.prod(shape) * dtype.itemsize > len(raw):
        raise WireError(f"an array of shape {shape} does not fit in its {len(raw)} bytes")
    stream.seek(0)
    return np.load(stream, allow_pickle=False)
