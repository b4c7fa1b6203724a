"""Account propensity from the scores of its persons (the buying committee).

Three roll-ups of the person probabilities p_i of an account's persons:
- max: the single most likely person;
- noisy_or: 1 - prod(1 - p_i), the chance that at least one of them converts (if independent);
- top3_mean: the mean of the three highest (fewer when the account has fewer persons).
Accounts without scored persons roll up to 0.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROLLUPS = ("max", "noisy_or", "top3_mean")
TOP_K = 3


def rollup_persons(account_keys: pa.Array | pa.ChunkedArray, probability: np.ndarray) -> pa.Table:
    """One row per account among `account_keys` (persons without an account are left out):
    account_key, persons, and the roll-ups of their probabilities."""
    keys = pc.cast(account_keys, pa.string())
    linked = pc.is_valid(keys).to_numpy(zero_copy_only=False)
    keys = pc.filter(keys, pa.array(linked))
    p = np.asarray(probability, dtype=np.float64)[linked]
    dictionary = (
        pc.dictionary_encode(keys).combine_chunks()
        if isinstance(keys, pa.ChunkedArray)
        else pc.dictionary_encode(keys)
    )
    group = dictionary.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    accounts = len(dictionary.dictionary)
    order = np.lexsort((-p, group))
    group_sorted, p_sorted = group[order], p[order]
    starts = np.searchsorted(group_sorted, np.arange(accounts))
    rank = np.arange(len(group_sorted)) - starts[group_sorted]
    top = rank < TOP_K
    persons = np.bincount(group, minlength=accounts)
    return pa.table(
        {
            "account_key": dictionary.dictionary,
            "persons": pa.array(persons, pa.int64()),
            "max": pa.array(
                np.bincount(group_sorted[rank == 0], weights=p_sorted[rank == 0], minlength=accounts)
            ),
            "noisy_or": pa.array(
                -np.expm1(np.bincount(group, weights=np.log1p(-np.minimum(p, 1 - 1e-12)), minlength=accounts))
            ),
            "top3_mean": pa.array(
                np.bincount(group_sorted[top], weights=p_sorted[top], minlength=accounts)
                / np.maximum(np.minimum(persons, TOP_K), 1)
            ),
        }
    )


def rollups_for(accounts: pa.Array | pa.ChunkedArray, rolled: pa.Table) -> dict[str, np.ndarray]:
    """The roll-ups of `rolled` for each of `accounts`, 0 where an account has no scored persons."""
    position = pc.index_in(pc.cast(accounts, pa.string()), value_set=rolled["account_key"])
    found = pc.is_valid(position).to_numpy(zero_copy_only=False)
    index = pc.fill_null(position, 0).to_numpy(zero_copy_only=False)
    return {
        name: np.where(found, rolled[name].to_numpy()[index] if rolled.num_rows else 0.0, 0.0)
        for name in ROLLUPS
    }
