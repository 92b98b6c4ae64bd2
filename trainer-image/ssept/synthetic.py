"""Generated interaction data with learnable sequential structure, and writers for the two
upstream formats (MovieLens `ratings.dat` in `ml-1m.zip`, JODIE `wikipedia.csv`).

MovieLens may not be redistributed, so tests and benchmarks use these files instead.

Structure: items lie on a hidden cycle; each user walks it with a personal step size (1-3),
and sometimes jumps to a popular item (Zipf popularity). A sequential model can learn the
walk; a popularity ranking only sees the jumps. That gap is what the tests check.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np


def generate_sequences(
    num_users: int,
    num_items: int,
    mean_length: float,
    min_length: int = 5,
    max_length: int | None = None,
    follow_prob: float = 0.8,
    repeat_prob: float = 0.0,
    unique_items: bool = True,
    seed: int = 0,
) -> list[list[int]]:
    """Index 0 is empty; user u's items (1-based ids) are at index u, oldest first."""
    if num_items < 3:
        raise ValueError("num_items must be at least 3")
    if mean_length < min_length:
        raise ValueError(f"mean_length {mean_length} is below min_length {min_length}")
    rng = np.random.default_rng(seed)
    cycle = rng.permutation(num_items) + 1
    position_of = np.empty(num_items + 1, dtype=np.int64)
    position_of[cycle] = np.arange(num_items)
    popularity = 1.0 / np.arange(1, num_items + 1)
    popularity = popularity[rng.permutation(num_items)]
    popularity /= popularity.sum()
    cap = max_length or 10 * int(mean_length)
    if unique_items:
        cap = min(cap, num_items - 1)  # leave at least one never-touched item per user
    lengths = min_length + rng.exponential(mean_length - min_length, size=num_users).astype(np.int64)
    lengths = np.clip(lengths, min_length, cap)
    sequences: list[list[int]] = [[]]
    for user in range(num_users):
        length = int(lengths[user])
        step = int(rng.integers(1, 4))
        follow = rng.random(length) < follow_prob
        repeat = rng.random(length) < repeat_prob
        jumps = rng.choice(num_items, size=length, p=popularity) + 1
        pos = int(rng.integers(num_items))
        seq: list[int] = []
        seen: set[int] = set()
        for t in range(length):
            if repeat[t] and seq:
                item = seq[-1 - int(rng.integers(min(len(seq), 3)))]
            else:
                if follow[t]:
                    pos = (pos + step) % num_items
                else:
                    pos = int(position_of[jumps[t]])
                if unique_items:
                    while int(cycle[pos]) in seen:  # +1 always reaches a free item
                        pos = (pos + 1) % num_items
                item = int(cycle[pos])
            seq.append(item)
            seen.add(item)
        sequences.append(seq)
    return sequences


def movielens_ratings_dat(sequences: list[list[int]], seed: int = 0) -> bytes:
    """`UserID::MovieID::Rating::Timestamp` lines. Movie ids are made sparse (3*i + 7) and rows
    are shuffled within each user, so the clean stage must remap ids and sort by time."""
    rng = np.random.default_rng(seed)
    lines: list[str] = []
    for user, seq in enumerate(sequences):
        if not seq:
            continue
        start = 956_703_932 + int(rng.integers(0, 10_000_000))
        times = start + np.cumsum(rng.integers(1, 3600, size=len(seq)))
        ratings = rng.integers(1, 6, size=len(seq))
        rows = [f"{user}::{3 * item + 7}::{r}::{t}" for item, r, t in zip(seq, ratings.tolist(), times.tolist())]
        lines.extend(rows[i] for i in rng.permutation(len(rows)))
    return ("\n".join(lines) + "\n").encode()


def movielens_zip(ratings_dat: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-1m/ratings.dat", ratings_dat)
        zf.writestr("ml-1m/README", "Generated MovieLens-format test data; not MovieLens.\n")
    return buffer.getvalue()


def jodie_csv(sequences: list[list[int]], num_features: int = 4, seed: int = 0) -> bytes:
    """wikipedia.csv layout: 0-based ids, rows in global time order, feature columns."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[float, int, int]] = []
    for user, seq in enumerate(sequences):
        if not seq:
            continue
        times = np.cumsum(rng.uniform(1.0, 500.0, size=len(seq)))
        rows.extend((float(t), user - 1, item - 1) for t, item in zip(times.tolist(), seq))
    rows.sort()
    header = "user_id,item_id,timestamp,state_label,comma_separated_list_of_features\n"
    body = []
    for t, user, item in rows:
        features = ",".join(f"{x:.6f}" for x in rng.normal(size=num_features).tolist())
        body.append(f"{user},{item},{t:.1f},0,{features}\n")
    return (header + "".join(body)).encode()


def random_event_arrays(
    num_users: int, num_items: int, num_events: int, min_length: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(lengths [num_users], items [num_events]) for scale tests, vectorised (20M events in
    seconds): skewed history lengths of at least `min_length` summing to exactly `num_events`,
    and items drawn from a Zipf-like popularity. No sequential structure; repeats allowed."""
    if num_users < 1 or num_items < 2:
        raise ValueError("need at least 1 user and 2 items")
    if num_events < min_length * num_users:
        raise ValueError(f"{num_events} events cannot give {num_users} users {min_length} events each")
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.7, size=num_users)
    lengths = min_length + rng.multinomial(num_events - min_length * num_users, weights / weights.sum())
    popularity = 1.0 / np.arange(1, num_items + 1) ** 0.8
    cdf = np.cumsum(popularity[rng.permutation(num_items)])
    items = np.searchsorted(cdf, rng.random(num_events) * cdf[-1], side="right") + 1
    return lengths.astype(np.int64), np.minimum(items, num_items).astype(np.int64)
