"""What the pipeline knows about each dataset: where it comes from and how it is served."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RawFormat = Literal["movielens-ratings-zip", "jodie-csv"]


@dataclass(frozen=True)
class DatasetProfile:
    name: str
    source_url: str
    raw_filename: str
    raw_format: RawFormat
    # Published checksums of the upstream file. GroupLens publishes an MD5 for ml-1m.zip;
    # SNAP publishes none for wikipedia.csv, so that one is verified by content (row count,
    # header) and an optional --expected-sha256.
    md5: str | None
    sha256: str | None
    expected_rows: int | None
    default_kcore: int
    default_maxlen: int
    # Whether a recommendation may repeat an item already in the user's sequence: no for
    # MovieLens (one rating per movie), yes for Wikipedia (most edits re-edit a page).
    mask_seen_items: bool


PROFILES: dict[str, DatasetProfile] = {
    "ml-1m": DatasetProfile(
        name="ml-1m",
        source_url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        raw_filename="ml-1m.zip",
        raw_format="movielens-ratings-zip",
        md5="c4d9eecfca2ab87c1945afe126590906",
        sha256=None,
        expected_rows=1_000_209,
        default_kcore=5,
        default_maxlen=200,
        mask_seen_items=True,
    ),
    "wikipedia": DatasetProfile(
        name="wikipedia",
        source_url="https://snap.stanford.edu/jodie/wikipedia.csv",
        raw_filename="wikipedia.csv",
        raw_format="jodie-csv",
        md5=None,
        sha256=None,
        expected_rows=157_474,
        default_kcore=1,
        default_maxlen=50,
        mask_seen_items=False,
    ),
}


def get_profile(name: str) -> DatasetProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(sorted(PROFILES))}"
        ) from None
