"""Parsers for the raw upstream files. A malformed row is quarantined with its reason, never
dropped silently and never fatal; only a file that is not the expected format at all (wrong
archive member, wrong CSV header) raises."""

from __future__ import annotations

import io
import math
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

MOVIELENS_RATINGS_MEMBER = "ratings.dat"
JODIE_HEADER_PREFIX = ("user_id", "item_id", "timestamp", "state_label")


class RawFormatError(ValueError):
    pass


@dataclass(frozen=True)
class QuarantinedRow:
    line: int  # 1-based line number in the raw file
    reason: str
    raw: str

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "reason": self.reason, "raw": self.raw}


@dataclass
class ParsedInteractions:
    """Valid rows as parallel arrays (raw ids, time) plus everything that was set aside."""

    users: np.ndarray  # int64 raw user ids
    items: np.ndarray  # int64 raw item ids
    timestamps: np.ndarray  # float64
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    total_rows: int = 0

    @property
    def reason_counts(self) -> dict[str, int]:
        return dict(Counter(row.reason.split(":", 1)[0] for row in self.quarantined))


def _parse_int(value: str, name: str, minimum: int) -> int:
    try:
        parsed = int(value)
    except ValueError:
        raise ValueError(f"{name} is not an integer: {value!r}") from None
    if parsed < minimum:
        raise ValueError(f"{name} is below {minimum}: {value!r}")
    return parsed


def _parse_time(value: str, name: str) -> float:
    try:
        parsed = float(value)
    except ValueError:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not math.isfinite(parsed) or parsed < 0:
        raise ValueError(f"{name} is not a finite non-negative number: {value!r}")
    return parsed


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last row does not start another row
    return lines


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8").rstrip("\r")


class _Collector:
    def __init__(self) -> None:
        self.users: list[int] = []
        self.items: list[int] = []
        self.times: list[float] = []
        self.quarantined: list[QuarantinedRow] = []
        self.total = 0

    def add(self, user: int, item: int, timestamp: float) -> None:
        self.users.append(user)
        self.items.append(item)
        self.times.append(timestamp)

    def bad(self, line: int, reason: str, raw: bytes) -> None:
        self.quarantined.append(QuarantinedRow(line, reason, raw.decode("utf-8", "replace")))

    def rows(self, lines: list[bytes], first_number: int) -> Iterator[tuple[int, bytes, str]]:
        """Counts every line, quarantines undecodable and blank ones, yields the rest decoded."""
        for number, raw in enumerate(lines, start=first_number):
            self.total += 1
            try:
                text = _decode(raw)
            except UnicodeDecodeError:
                self.bad(number, "encoding: line is not valid UTF-8", raw)
                continue
            if not text.strip():
                self.bad(number, "empty: blank line", raw)
                continue
            yield number, raw, text

    def result(self) -> ParsedInteractions:
        return ParsedInteractions(
            users=np.asarray(self.users, dtype=np.int64),
            items=np.asarray(self.items, dtype=np.int64),
            timestamps=np.asarray(self.times, dtype=np.float64),
            quarantined=self.quarantined,
            total_rows=self.total,
        )


def parse_movielens_ratings(data: bytes) -> ParsedInteractions:
    """`UserID::MovieID::Rating::Timestamp` lines (MovieLens-1M ratings.dat)."""
    out = _Collector()
    for number, raw, text in out.rows(_lines(data), first_number=1):
        fields = text.split("::")
        if len(fields) != 4:
            out.bad(number, f"fields: expected 4 fields separated by '::', got {len(fields)}", raw)
            continue
        try:
            user = _parse_int(fields[0].strip(), "UserID", 1)
            item = _parse_int(fields[1].strip(), "MovieID", 1)
            rating = _parse_int(fields[2].strip(), "Rating", 1)
            if rating > 5:
                raise ValueError(f"Rating is above 5: {fields[2]!r}")
            timestamp = _parse_time(fields[3].strip(), "Timestamp")
        except ValueError as exc:
            out.bad(number, f"value: {exc}", raw)
            continue
        out.add(user, item, timestamp)
    return out.result()


def read_movielens_zip(archive: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            members = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == MOVIELENS_RATINGS_MEMBER]
            if len(members) != 1:
                raise RawFormatError(
                    f"expected exactly one {MOVIELENS_RATINGS_MEMBER} in the archive, "
                    f"found {members or 'none'}"
                )
            return zf.read(members[0])
    except zipfile.BadZipFile as exc:
        raise RawFormatError(f"not a zip archive: {exc}") from exc


def parse_jodie_csv(data: bytes) -> ParsedInteractions:
    """JODIE `wikipedia.csv`: a header, then `user_id,item_id,timestamp,state_label,features...`.

    User and item ids are 0-based in the file; any non-negative integer is accepted here and
    remapped by the clean stage.
    """
    lines = _lines(data)
    if not lines:
        raise RawFormatError("empty file: expected a header line")
    try:
        header = [h.strip() for h in _decode(lines[0]).split(",")]
    except UnicodeDecodeError:
        raise RawFormatError("the header line is not valid UTF-8") from None
    if tuple(header[:4]) != JODIE_HEADER_PREFIX:
        raise RawFormatError(
            f"unexpected header {','.join(header[:5])!r}: expected it to start with "
            f"{','.join(JODIE_HEADER_PREFIX)!r}"
        )
    out = _Collector()
    for number, raw, text in out.rows(lines[1:], first_number=2):
        fields = text.split(",", 4)
        if len(fields) < 4:
            out.bad(number, f"fields: expected at least 4 comma-separated fields, got {len(fields)}", raw)
            continue
        try:
            user = _parse_int(fields[0].strip(), "user_id", 0)
            item = _parse_int(fields[1].strip(), "item_id", 0)
            timestamp = _parse_time(fields[2].strip(), "timestamp")
        except ValueError as exc:
            out.bad(number, f"value: {exc}", raw)
            continue
        out.add(user, item, timestamp)
    return out.result()
