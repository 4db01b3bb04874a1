"""One train/test split for the whole study: stratified by class, grouped so nothing leaks.

A group is everything that must sit on one side: all images of one patient (when a patient id is
known) joined with every image they are near duplicates of. Synthetic images are later made from
the training side only, so a test image can never leak into training through the GAN either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def connected_groups(n_items: int, links: Iterable[tuple[int, int]]) -> np.ndarray:
    """Group id per item such that linked items share a group (union-find)."""
    parent = list(range(n_items))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in links:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    return np.array([find(i) for i in range(n_items)])


def links_from_keys(keys: Sequence[str]) -> list[tuple[int, int]]:
    """Link items that share a non-empty key (for example a patient id)."""
    first: dict[str, int] = {}
    links = []
    for index, key in enumerate(keys):
        if not key:
            continue
        if key in first:
            links.append((first[key], index))
        else:
            first[key] = index
    return links


def stratified_group_split(
    labels: np.ndarray, groups: np.ndarray, test_fraction: float, seed: int
) -> np.ndarray:
    """Boolean mask of test items: about test_fraction of each class, whole groups only.

    Groups are visited in a seeded random order and put in the test set while no class would go
    over its target count, so with one image per group the split is exactly stratified, and with
    larger groups it is as close as whole groups allow.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, not {test_fraction}")
    labels, groups = np.asarray(labels), np.asarray(groups)
    classes = np.unique(labels)
    target = {c: int(round(test_fraction * np.sum(labels == c))) for c in classes}
    taken = dict.fromkeys(classes, 0)
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), bool)
    for group in rng.permutation(np.unique(groups)):
        members = groups == group
        counts = {c: int(np.sum(labels[members] == c)) for c in classes}
        if all(taken[c] + counts[c] <= target[c] for c in classes):
            is_test |= members
            for c in classes:
                taken[c] += counts[c]
    return is_test
