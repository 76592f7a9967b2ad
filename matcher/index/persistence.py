"""Saving and loading a ``HashIndex``: one file of raw arrays behind a JSON header.

Why: a restarted worker must get its 10M-hash index back in seconds, and an
index file must never be able to run code when loaded (HMA stores pickled
index blobs; we do not). The loader reads only raw arrays of four allowed
element types, each with a CRC-32, and every shape, dtype and bound is checked
before the arrays are used, so a malformed or tampered file is refused with ``IndexFormatError``
rather than producing an index that misbehaves later. Table entries are
checked against the codes on a random sample by default (the checksums already
catch accidental corruption); ``verify=True`` checks all of them, proving
that no table would silently miss a match, at the cost of seconds per
million hashes.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from matcher.errors import IndexFormatError
from matcher.index.hash_index import HashIndex, _replace
from matcher.index.layout import SubstringLayout, substring_key
from matcher.index.tables import SubstringTables

FORMAT_NAME = "ncii-matcher/hash-index"
FORMAT_VERSION = 2
MAGIC = b"NCIIHIX\x00"
_ARRAYS = ("words", "ids", "alive", "offsets", "rows", "id_keys", "id_rows")
_DTYPES = {"<u8", "<i8", "<i4", "|b1"}  # the only element types an index file may declare
_MAX_HEADER = 1 << 20
_ALIGN = 64


def save_index(index: HashIndex, path: str | Path) -> None:
    """Write atomically: a crash mid-save leaves the previous file in place."""
    st = index._state
    tables = st.tables
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "bits": index.bits,
        "tuned_threshold": index.tuned_threshold,
        "tail_limit": index.tail_limit,
        "n_indexed": st.n_indexed,
        "planned_for": st.planned_for,
        "lengths": None if tables is None else list(tables.layout.lengths),
    }
    arrays = {
        "words": st.words[: st.n_rows],
        "ids": st.ids[: st.n_rows],
        "alive": st.alive[: st.n_rows].copy(),
        "offsets": np.empty(0, np.int32) if tables is None else tables.offsets,
        "rows": np.empty(0, np.int32) if tables is None else tables.rows,
        "id_keys": st.id_keys,
        "id_rows": st.id_rows,
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write_arrays(tmp, header, arrays)
    os.replace(tmp, path)


def write_arrays(path: str | Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The container: magic, header length, JSON header (with each array's dtype, shape,
    offset and CRC-32), then the raw little-endian arrays, each 64-byte aligned.

    Raw arrays rather than ``.npz``: loading reads each array straight into
    place (a 10M-hash index loads several times faster than through zipfile),
    and there is nothing in the file a loader could execute.
    """
    specs, offset = {}, 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        offset = -(-offset // _ALIGN) * _ALIGN
        specs[name] = {
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "offset": offset,
            "crc32": zlib.crc32(_bytes_of(array)),
        }
        offset += array.nbytes
    head = json.dumps({**header, "arrays": specs}).encode()
    start = -(-(len(MAGIC) + 8 + len(head)) // _ALIGN) * _ALIGN
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<Q", len(head)) + head)
        for name, array in arrays.items():
            f.seek(start + specs[name]["offset"])
            f.write(_bytes_of(np.ascontiguousarray(array)))
        f.truncate(start + max(spec["offset"] + arrays[name].nbytes for name, spec in specs.items()))


def read_arrays(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a container written by ``write_arrays``, checking every declared size against the file."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            _check(f.read(len(MAGIC)) == MAGIC, f"{path}: not a hash index file")
            (head_len,) = struct.unpack("<Q", f.read(8))
            _check(head_len <= _MAX_HEADER, "index header too large")
            header = _parse_header(f.read(head_len))
            start = -(-(len(MAGIC) + 8 + head_len) // _ALIGN) * _ALIGN
            specs = header.pop("arrays")
            _check(isinstance(specs, dict) and sorted(specs) == sorted(_ARRAYS), "wrong set of arrays")

        def one(name: str) -> np.ndarray:
            with open(path, "rb") as own:  # one handle per thread: reads and CRCs release the GIL
                return _read_array(own, name, specs[name], start, size)

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            arrays = dict(zip(_ARRAYS, pool.map(one, _ARRAYS)))
    except IndexFormatError:
        raise
    except (OSError, EOFError, ValueError, TypeError, KeyError, struct.error, OverflowError) as e:
        raise IndexFormatError(f"{path}: unreadable index file ({e})") from e
    return header, arrays


def _read_array(f: Any, name: str, spec: Any, start: int, size: int) -> np.ndarray:
    _check(isinstance(spec, dict), f"array {name}: bad description")
    dtype, shape, offset, crc = spec.get("dtype"), spec.get("shape"), spec.get("offset"), spec.get("crc32")
    _check(dtype in _DTYPES, f"array {name}: element type {dtype!r} not allowed")
    _check(
        isinstance(shape, list) and 1 <= len(shape) <= 2 and all(_is_count(x) for x in shape),
        f"array {name}: bad shape",
    )
    _check(_is_count(offset) and _is_count(crc), f"array {name}: bad offset or checksum")
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize  # Python ints: no overflow
    _check(start + offset + nbytes <= size, f"array {name}: extends past the end of the file")
    array = np.empty(shape, dtype=dtype)
    view = _bytes_of(array)
    f.seek(start + offset)
    done = 0
    while done < nbytes:
        got = f.readinto(view[done:])
        _check(bool(got), f"array {name}: truncated")
        done += got
    _check(zlib.crc32(view) == crc, f"array {name}: checksum mismatch (corrupt file)")
    return array


def _bytes_of(array: np.ndarray) -> memoryview:
    return memoryview(array.reshape(-1).view(np.uint8))


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def load_index(path: str | Path, verify: bool = False) -> HashIndex:
    header, arrays = read_arrays(path)
    return _restore(header, arrays, verify)


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IndexFormatError(f"index header is not JSON ({e})") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise IndexFormatError("not a hash index file")
    if header.get("version") != FORMAT_VERSION:
        raise IndexFormatError(f"unsupported index format version {header.get('version')!r}")
    for key in ("bits", "tuned_threshold", "tail_limit", "n_indexed", "planned_for"):
        if not _is_count(header.get(key)):
            raise IndexFormatError(f"index header field {key!r} must be a non-negative integer")
    lengths = header.get("lengths")
    if lengths is not None and (not isinstance(lengths, list) or not all(_is_count(x) for x in lengths)):
        raise IndexFormatError("index header field 'lengths' must be a list of integers or null")
    return header


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise IndexFormatError(message)


def _restore(header: dict[str, Any], a: dict[str, np.ndarray], verify: bool) -> HashIndex:
    bits = header["bits"]
    _check(bits > 0 and bits % 64 == 0, f"bits {bits} is not a positive multiple of 64")
    words, ids, alive = a["words"], a["ids"], a["alive"]
    _check(words.dtype == np.dtype("<u8") and words.ndim == 2 and words.shape[1] == bits // 64, "bad codes array")
    n_rows = words.shape[0]
    _check(ids.dtype == np.int64 and ids.shape == (n_rows,), "bad ids array")
    _check(alive.dtype == np.bool_ and alive.shape == (n_rows,), "bad alive array")
    n_indexed = header["n_indexed"]
    _check(n_indexed <= n_rows, "more indexed rows than rows")
    try:
        index = HashIndex(bits, tuned_threshold=header["tuned_threshold"], tail_limit=header["tail_limit"])
    except ValueError as e:
        raise IndexFormatError(str(e)) from e

    offsets, rows, id_keys, id_rows = a["offsets"], a["rows"], a["id_keys"], a["id_rows"]
    tables = None
    if header["lengths"] is None:
        _check(n_indexed == 0 and len(offsets) == len(rows) == len(id_keys) == len(id_rows) == 0, "tables missing")
    else:
        try:
            layout = SubstringLayout(bits, tuple(header["lengths"]))
        except ValueError as e:
            raise IndexFormatError(str(e)) from e
        m = len(layout.lengths)
        _check(offsets.dtype in (np.int32, np.int64) and offsets.shape == (sum(layout.buckets) + 1,), "bad offsets")
        _check(rows.dtype == np.int32 and rows.shape == (m * n_indexed,), "bad table rows")
        _check(offsets[0] == 0 and bool(np.all(offsets[1:] >= offsets[:-1])), "offsets not non-decreasing from 0")
        tables = SubstringTables(layout, offsets, rows, n_indexed)
        starts = offsets[tables.bucket_base]
        _check(bool(np.array_equal(starts, np.arange(m) * n_indexed)) and offsets[-1] == len(rows), "bad table sizes")
        _check(len(rows) == 0 or (rows.min() >= 0 and rows.max() < n_indexed), "table row out of range")
        _check(id_keys.dtype == np.int64 and id_keys.ndim == 1, "bad id map keys")
        _check(id_rows.dtype == np.int32 and id_rows.shape == id_keys.shape, "bad id map rows")
        _check(bool(np.all(id_keys[1:] > id_keys[:-1])), "id map not strictly increasing")
        _check(len(id_rows) == 0 or (id_rows.min() >= 0 and id_rows.max() < n_indexed), "id map row out of range")
        _check(bool(np.array_equal(ids[id_rows], id_keys)), "id map disagrees with ids")
        mapped = np.zeros(n_indexed, dtype=bool)
        mapped[id_rows] = True
        _check(bool(np.all(mapped | ~alive[:n_indexed])), "a live row is missing from the id map")
        _verify_tables(tables, words, sample=None if verify else 4096)
    _check(_tail_ids_unique(ids, alive, id_keys, n_indexed), "an id is live in two rows")

    st = _replace(
        index._state,
        words=words,
        ids=ids,
        alive=alive,
        n_rows=n_rows,
        tables=tables,
        id_keys=id_keys,
        id_rows=id_rows,
        planned_for=header["planned_for"],
    )
    index._dead = int(n_rows - np.count_nonzero(alive))
    index._state = index._with_tail(st)
    return index


def _verify_tables(tables: SubstringTables, words: np.ndarray, sample: int | None) -> None:
    """Table entries sit in the bucket of their own substring (all of them, or a random sample).

    The full check also proves that each table holds every row exactly once.
    """
    n = tables.n_rows
    rng = np.random.default_rng()
    for i, (start, length) in enumerate(zip(tables.layout.starts, tables.layout.lengths)):
        base = int(tables.bucket_base[i])
        bounds = tables.offsets[base : base + (1 << length) + 1].astype(np.int64)
        segment = tables.rows[i * n : (i + 1) * n]
        if sample is None:
            positions = np.arange(n)
            keys = substring_key(words[:n], start, length)[segment]
        else:
            positions = rng.integers(0, n, min(n, sample))
            keys = substring_key(words[segment[positions]], start, length)
        buckets = np.searchsorted(bounds, i * n + positions, side="right") - 1
        _check(bool(np.array_equal(keys, buckets)), f"table {i}: rows in the wrong buckets")
        if sample is None:
            _check(bool(np.all(np.bincount(segment, minlength=n) == 1)), f"table {i} does not hold every row once")


def _tail_ids_unique(ids: np.ndarray, alive: np.ndarray, id_keys: np.ndarray, n_indexed: int) -> bool:
    """Live tail ids are distinct and not live among indexed rows.

    (Indexed live rows are unique already: each is in the strictly increasing id map.)
    """
    tail = ids[n_indexed:][alive[n_indexed:]]
    ordered = np.sort(tail)
    if bool(np.any(ordered[1:] == ordered[:-1])):
        return False
    if len(id_keys) == 0 or len(tail) == 0:
        return True
    pos = np.minimum(np.searchsorted(id_keys, tail), len(id_keys) - 1)
    return not bool(np.any(id_keys[pos] == tail))
