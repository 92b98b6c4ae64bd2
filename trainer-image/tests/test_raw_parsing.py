import pytest

from ssept.raw_parsing import RawFormatError, parse_jodie_csv, parse_movielens_ratings, read_movielens_zip
from ssept.synthetic import movielens_zip

GOOD = ["1::10::5::978300760", "1::20::3::978302109", "2::10::4::978301968"]
BAD = {
    "1::10::5": "fields",  # too few fields
    "1::10::5::97830::9": "fields",  # too many
    "x::10::5::978300760": "value",  # non-integer user
    "1::-3::5::978300760": "value",  # negative movie id
    "1::10::7::978300760": "value",  # rating out of range
    "1::10::0::978300760": "value",
    "1::10::5::yesterday": "value",  # non-numeric time
    "   ": "empty",
}


def test_movielens_malformed_rows_are_quarantined_and_counted():
    lines = [GOOD[0], *BAD.keys(), GOOD[1]]
    data = ("\n".join(lines) + "\n").encode() + b"2::10::4::97830\xff\n" + (GOOD[2] + "\r\n").encode()
    parsed = parse_movielens_ratings(data)
    assert parsed.total_rows == len(lines) + 2
    assert len(parsed.users) == 3 and len(parsed.quarantined) == len(BAD) + 1
    assert len(parsed.users) + len(parsed.quarantined) == parsed.total_rows  # nothing silently dropped
    assert parsed.users.tolist() == [1, 1, 2] and parsed.items.tolist() == [10, 20, 10]
    assert parsed.timestamps.tolist() == [978300760, 978302109, 978301968]
    assert parsed.reason_counts == {"fields": 2, "value": 5, "empty": 1, "encoding": 1}
    by_line = {row.line: row for row in parsed.quarantined}
    assert by_line[2].raw == "1::10::5" and "expected 4 fields" in by_line[2].reason
    assert "Rating is above 5" in by_line[6].reason
    assert by_line[len(lines) + 1].reason.startswith("encoding")


def test_movielens_zip_member_lookup():
    archive = movielens_zip(b"1::2::3::4\n")
    assert read_movielens_zip(archive) == b"1::2::3::4\n"
    with pytest.raises(RawFormatError, match="not a zip"):
        read_movielens_zip(b"plain text")


def test_jodie_csv_rows_and_quarantine():
    data = (
        "user_id,item_id,timestamp,state_label,comma_separated_list_of_features\n"
        "0,5,0.0,0,0.1,0.2\n"
        "1,5,36.0,0,0.3,0.1\n"
        "1,abc,40.0,0,0.3\n"
        "2,7\n"
        "2,7,-1,0,0.0\n"
        "0,5,50.5,1,0.1,0.2\n"
    ).encode()
    parsed = parse_jodie_csv(data)
    assert parsed.users.tolist() == [0, 1, 0] and parsed.items.tolist() == [5, 5, 5]
    assert parsed.timestamps.tolist() == [0.0, 36.0, 50.5]
    assert [row.line for row in parsed.quarantined] == [4, 5, 6]
    assert parsed.total_rows == 6


def test_jodie_csv_wrong_header_is_an_error_naming_it():
    with pytest.raises(RawFormatError, match="unexpected header 'user,item,time'"):
        parse_jodie_csv(b"user,item,time\n1,2,3\n")
    with pytest.raises(RawFormatError, match="empty file"):
        parse_jodie_csv(b"")
