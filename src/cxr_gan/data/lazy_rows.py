"""Row selections of image arrays that read pixels only when a batch is asked for.

With 30,000 X-rays memory-mapped from disk, `images[train_mask]` would copy the whole training
split into memory. A `LazyRows` keeps (array, row numbers) pairs instead and gathers just the rows
a batch needs; the input pipelines (GAN, classifier, feature cache, predictions) index it batch by
batch, exactly as they index a plain array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Transform = Callable[[np.ndarray], np.ndarray]


class LazyRows:
    """Rows `index` of `source` (any array indexable by integer arrays, e.g. an np.memmap), in
    that order, optionally passed through `transform` (a per-batch, per-image function) when read.

    Indexing (int, slice, integer or boolean array) returns a plain ndarray of just those rows;
    `np.asarray(rows)` reads all of them, so call it only on small selections.
    """

    def __init__(
        self, source: Any, index: Sequence[int] | np.ndarray, transform: Transform | None = None
    ) -> None:
        self._parts: list[tuple[Any, np.ndarray]] = [(source, np.asarray(index, np.int64))]
        self._transform = transform
        self._refresh()

    @classmethod
    def concatenate(cls, *selections: Any) -> LazyRows:
        """One selection reading through each of `selections` (arrays or LazyRows) in turn."""
        parts: list[tuple[Any, np.ndarray]] = []
        for selection in selections:
            if isinstance(selection, LazyRows) and selection._transform is None:
                parts += selection._parts
            else:
                parts.append((selection, np.arange(len(selection), dtype=np.int64)))
        combined = cls.__new__(cls)
        combined._parts, combined._transform = parts, None
        combined._refresh()
        return combined

    def _refresh(self) -> None:
        shapes = {tuple(source.shape[1:]) for source, _ in self._parts}
        if len(shapes) > 1:
            raise ValueError(f"rows of different shapes cannot be combined: {sorted(shapes)}")
        self._starts = np.cumsum([0] + [len(index) for _, index in self._parts])
        first = self._parts[0][0]
        self.shape: tuple[int, ...] = (int(self._starts[-1]), *first.shape[1:])
        self.dtype = np.result_type(*(source.dtype for source, _ in self._parts))

    def with_transform(self, transform: Transform) -> LazyRows:
        """The same rows, each batch passed through transform(batch) when read."""
        base = self if self._transform is None else LazyRows(self, np.arange(len(self)))
        result = LazyRows.__new__(LazyRows)
        result._parts, result._transform = list(base._parts), transform
        result._refresh()
        return result

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):  # rows first, then the rest as for an ndarray
            arrays = [isinstance(part, (list, np.ndarray)) for part in key]
            if any(part is Ellipsis or part is None for part in key) or sum(arrays) > 1:
                # numpy would broadcast several index arrays together: not what rows-then-rest
                # reading gives, so refuse instead of answering differently
                raise TypeError(
                    "LazyRows takes a row index, then ints or slices per axis (at most one "
                    "index array, no Ellipsis or None)"
                )
            rows = self[key[0]]
            if isinstance(key[0], (int, np.integer)):  # the row axis is gone
                return rows[key[1:]]
            return rows[(slice(None), *key[1:])]
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        positions = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key)
        if positions.dtype == bool:
            positions = np.flatnonzero(positions)
        positions = positions.astype(np.int64)
        if positions.size and (positions.min() < -len(self) or positions.max() >= len(self)):
            raise IndexError(f"row index out of range for {len(self)} rows")
        positions = positions % max(len(self), 1)
        out = np.empty((len(positions), *self.shape[1:]), self.dtype)
        part_of = np.searchsorted(self._starts, positions, side="right") - 1
        for number in np.unique(part_of):
            source, index = self._parts[number]
            where = np.flatnonzero(part_of == number)
            rows = index[positions[where] - self._starts[number]]
            order = np.argsort(rows, kind="stable")  # ascending reads: sequential on disk
            out[where[order]] = source[rows[order]]
        return self._transform(out) if self._transform is not None else out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:  # numpy 2's protocol: reading rows always makes a new array
            raise ValueError("LazyRows cannot give an array without copying its rows")
        values = self[:]
        return values if dtype is None else values.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyRows(shape={self.shape}, dtype={self.dtype}, parts={len(self._parts)})"


def select_rows(images: Any, index: Sequence[int] | np.ndarray) -> LazyRows:
    """Rows `index` of images without reading them; a selection of a plain selection stays one
    level deep."""
    index = np.asarray(index, np.int64)
    if isinstance(images, LazyRows) and images._transform is None and len(images._parts) == 1:
        source, rows = images._parts[0]
        return LazyRows(source, rows[index])
    return LazyRows(images, index)


def read_in_chunks(images: Any, rows_per_chunk: int = 256) -> Any:
    """Yield consecutive chunks of images (array or LazyRows) in their own dtype: bounded
    memory."""
    for start in range(0, len(images), rows_per_chunk):
        yield np.asarray(images[start : start + rows_per_chunk])
