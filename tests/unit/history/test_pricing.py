"""Costs from LiteLLM's fields, with the 200k tier applied per token kind."""

import json
from pathlib import Path

import pytest

from tether.errors import InvalidInput
from tether.history.pricing import BUNDLED, PriceTable, load_file


def test_bundled_table_prices_the_models_tests_and_bench_use() -> None:
    table = PriceTable(load_file(BUNDLED))
    cost = table.cost("claude-sonnet-4-20250514", 1_000_000, 0, 0, 0)
    assert cost == pytest.approx(200_000 * 3e-6 + 800_000 * 6e-6)
    assert table.cost("gpt-5", 1000, 1000, 0, 1000) == pytest.approx(
        1000 * 1.25e-6 + 1000 * 1.25e-7 + 1000 * 1e-5
    )
    assert table.cost("anthropic/claude-opus-4-1-20250805", 0, 0, 10, 0) == pytest.approx(
        10 * 1.875e-5
    )
    assert table.cost("no-such-model", 10, 10, 10, 10) == 0.0


def test_a_file_without_prices_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"sample_spec": {"max_tokens": 1}}))
    with pytest.raises(InvalidInput):
        load_file(path)
