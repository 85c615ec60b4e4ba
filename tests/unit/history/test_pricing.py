"""Costs from genai-prices' data: today's models priced, unknown ones unpriced (None)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from tether.errors import InvalidInput
from tether.history.pricing import PriceTable, parse_data

JAN = datetime(2026, 1, 5, 12, tzinfo=UTC).timestamp()
# Models in the recorded and generated data, and those the bundled 11-model table priced at 0
MODELS = (
    "claude-opus-4-5-20251101",
    "claude-opus-4-1-20250805",
    "claude-sonnet-4-20250514",
    "claude-sonnet-4-5",
    "gpt-5.1",
    "gpt-5.1-codex",
    "gpt-5",
    "gpt-5-codex",
    "gemini-2.5-pro",
)
USAGES = ((1000, 0, 0, 10), (3000, 150_000, 20_000, 900), (250_000, 10_000, 0, 5000))
ACME = [
    {
        "id": "acme",
        "name": "Acme",
        "api_pattern": "https://api\\.acme\\.test",
        "model_match": {"starts_with": "acme-"},
        "models": [
            {
                "id": "acme-1",
                "match": {"equals": "acme-1"},
                "prices": [
                    {"prices": {"input_mtok": 2, "cache_read_mtok": 0.5, "output_mtok": 8}},
                    {
                        "constraint": {"start_date": "2026-02-01"},
                        "prices": {"input_mtok": 1, "output_mtok": 4},
                    },
                ],
            },
            {
                "id": "acme-long",
                "match": {"equals": "acme-long"},
                "prices": {
                    "input_mtok": {"base": 1, "tiers": [{"start": 200_000, "price": 2}]},
                    "output_mtok": 4,
                },
            },
        ],
    }
]


@pytest.mark.parametrize("model", MODELS)
def test_bundled_data_prices_current_models_as_genai_prices_does(model: str) -> None:
    table = PriceTable()
    for fresh, cached, written, output in USAGES:
        ours = table.cost(model, JAN, fresh, cached, written, output)
        usage = Usage(
            input_tokens=fresh + cached + written,
            cache_read_tokens=cached,
            cache_write_tokens=written,
            output_tokens=output,
        )
        reference = calc_price(
            usage, model, genai_request_timestamp=datetime.fromtimestamp(JAN, UTC)
        )
        assert ours is not None and ours > 0
        assert ours == pytest.approx(float(reference.total_price), rel=1e-9)


def test_opus_4_5_costs_its_list_price() -> None:
    cost = PriceTable().cost("claude-opus-4-5-20251101", JAN, 1_000_000, 1_000_000, 0, 1_000_000)
    assert cost == pytest.approx(5 + 0.5 + 25)


def test_unknown_models_are_unpriced_not_free() -> None:
    table = PriceTable()
    for model in ("mock-model", "unknown", "claude-from-the-future-9"):
        assert table.cost(model, JAN, 10, 10, 10, 10) is None
        assert not table.priced(model)


def test_a_data_file_prices_by_date_and_by_long_context_tier(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(ACME))
    table = PriceTable(path)
    feb = datetime(2026, 2, 3, tzinfo=UTC).timestamp()
    assert table.cost("acme-1", JAN, 1_000_000, 1_000_000, 0, 1_000_000) == pytest.approx(10.5)
    assert table.cost("acme-1", feb, 1_000_000, 0, 0, 1_000_000) == pytest.approx(5)
    # cached tokens without a price of their own cost what input costs
    assert table.cost("acme-1", feb, 0, 1_000_000, 0, 0) == pytest.approx(1)
    assert table.cost("acme-long", JAN, 200_000, 0, 0, 0) == pytest.approx(0.2)
    assert table.cost("acme-long", JAN, 150_000, 60_000, 0, 0) == pytest.approx(0.42)
    assert table.cost("gpt-5", JAN, 1, 1, 1, 1) is None  # a data file replaces the bundled data


@pytest.mark.parametrize(
    "raw",
    [{"gpt-5": {"input_cost_per_token": 1}}, [], [{"id": "x"}], [{**ACME[0], "models": []}]],
)
def test_what_is_not_a_genai_prices_data_file_is_refused(raw: object) -> None:
    with pytest.raises(InvalidInput, match=r"source\.json"):
        parse_data(raw, "source.json")
