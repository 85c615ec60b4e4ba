"""``--json`` output: flat records are printed without json, exactly as json prints them.
Tables: padded columns, control characters neutralised, long cells cut."""

import pytest

from tether.cli.output import emit_json, emit_records, table

EVERY_ASCII = "".join(map(chr, range(0x80)))


@pytest.mark.parametrize(
    "records",
    [
        [],
        [{}],
        [{"key": "2026-01-01", "input_tokens": 0, "cost": None, "entries": 3}, {}],
        [{"key": 'a "quoted" name'}, {"key": "back\\slash"}, {"key": "del\x7f"}, {"é": "ü"}],
        [
            {
                "key": EVERY_ASCII + "é€\u2028\U0001f600",
                EVERY_ASCII: 1,
                "large": 10**30,
                "negative": -5,
                "cost": 0.1,
                "zero": -0.0,
                "small": 1e-300,
                "big": 1.5e300,
                "whole": 3.0,
                "nan": float("nan"),
                "inf": float("inf"),
                "-inf": float("-inf"),
                "yes": True,
                "no": False,
            }
        ],
    ],
)
def test_records_print_as_json_prints_them(
    records: list[dict[str, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    emit_json(records)
    expected = capsys.readouterr().out
    emit_records(records)
    assert capsys.readouterr().out == expected


def test_a_nested_value_is_refused() -> None:
    with pytest.raises(TypeError, match="list"):
        emit_records([{"key": [1]}])


def test_table_pads_columns_and_neutralises_what_a_terminal_would_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile = "a\x1b[2J\x9b\nb\x07"
    table(
        "usage",
        ("id", "title", "tokens"),
        [("web-1", hostile, "1,000"), ("web-12", "漢字", None), ("x", "y" * 50, 7)],
        max_width={"title": 10},
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "usage"
    assert lines[1] == "id      title       tokens"
    assert lines[2] == "web-1   a [2J  b    1,000"
    assert lines[3] == "web-12  漢字"  # two columns each; the empty cell leaves no trailing space
    assert lines[4] == "x       yyyyyyyyy…  7"
    assert all("\x1b" not in line and "\x9b" not in line and "\x07" not in line for line in lines)
