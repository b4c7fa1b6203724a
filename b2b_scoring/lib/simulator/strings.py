"""Vectorized string building and realistic noise on Arrow arrays (no Python loops over rows)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NULL_STRING = pa.scalar(None, pa.string())


def pick(values: Sequence[str], index: np.ndarray) -> pa.Array:
    """values[index] as an Arrow string array; negative indices become nulls."""
    index = np.asarray(index)
    indices = pa.array(np.where(index < 0, 0, index), mask=index < 0)
    return pa.array(list(values), pa.string()).take(indices)


def pick_in_groups(rng: np.random.Generator, groups: Sequence[Sequence[str]], group: np.ndarray) -> pa.Array:
    """For each row, one value drawn uniformly from the group the row belongs to."""
    flat = [value for values in groups for value in values]
    sizes = np.array([len(values) for values in groups])
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    return pick(flat, starts[group] + (rng.random(len(group)) * sizes[group]).astype(int))


def encoded(values: Sequence[str] | pa.Array, index: np.ndarray) -> pa.DictionaryArray:
    """values[index] dictionary-encoded (cheap for long columns of few distinct values);
    negative indices become nulls."""
    index = np.asarray(index)
    indices = pa.array(index.astype(np.int32), mask=index < 0)
    dictionary = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, "")


def where(mask: np.ndarray, when_true: pa.Array | str | None, when_false: pa.Array | str | None) -> pa.Array:
    def scalar(v: pa.Array | str | None) -> pa.Array | pa.Scalar:
        if v is None:
            return NULL_STRING
        return pa.scalar(v, pa.string()) if isinstance(v, str) else v

    return pc.if_else(pa.array(mask), scalar(when_true), scalar(when_false))


def mix(
    rng: np.random.Generator, n: int, variants: Sequence[tuple[float, pa.Array | str | None]]
) -> pa.Array:
    """Each of n rows takes one of the variants (an array, a constant or None for null), drawn
    with the variants' shares."""
    shares = np.cumsum([share for share, _ in variants])
    choice = np.searchsorted(shares, rng.random(n) * shares[-1], side="right")
    result = where(np.ones(n, bool), variants[-1][1], None)
    for k, (_, value) in enumerate(variants[:-1]):
        result = where(choice == k, value, result)
    return result


def padded_keys(prefix: str, n: int, width: int) -> pa.Array:
    numbers = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return concat(prefix, pc.utf8_lpad(numbers, width, "0"))


def swap_adjacent_characters(values: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Typo: swap two neighbouring characters (at position 1 or 2) where mask is set."""
    position = rng.integers(1, 3, len(values))
    for k in (1, 2):
        swapped = concat(
            pc.utf8_slice_codeunits(values, 0, k),
            pc.utf8_slice_codeunits(values, k + 1, k + 2),
            pc.utf8_slice_codeunits(values, k, k + 1),
            pc.utf8_slice_codeunits(values, k + 2),
        )
        values = pc.if_else(pa.array(mask & (position == k)), swapped, values)
    return values


def drop_character(values: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Typo: drop one character (at position 1 or 2) where mask is set."""
    position = rng.integers(1, 3, len(values))
    for k in (1, 2):
        dropped = concat(pc.utf8_slice_codeunits(values, 0, k), pc.utf8_slice_codeunits(values, k + 1))
        values = pc.if_else(pa.array(mask & (position == k)), dropped, values)
    return values


def occurrence_number(values: pa.Array) -> np.ndarray:
    """0 for the first occurrence of each value, 1 for the second, ... (stable order)."""
    _, inverse = np.unique(
        np.asarray(values.to_numpy(zero_copy_only=False), dtype=object), return_inverse=True
    )
    order = np.argsort(inverse, kind="stable")
    sorted_groups = inverse[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    result = np.empty(len(values), dtype=np.int64)
    result[order] = np.arange(len(order)) - group_start
    return result
