"""Cost from LiteLLM's model price table, shipped as package data.

The table maps a model name to per-token prices (``input_cost_per_token``,
``output_cost_per_token``, ``cache_creation_input_token_cost``,
``cache_read_input_token_cost``) and, for some models, higher prices for
the tokens of a request beyond 200k (the ``*_above_200k_tokens`` fields).
``tether prices update FILE`` replaces the table with a full LiteLLM JSON
file; nothing is fetched from the network.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tether.errors import InvalidInput

BUNDLED = Path(__file__).parent / "data" / "model_prices.json"
TIER_TOKENS = 200_000
_PROVIDER_PREFIXES = ("anthropic/", "openai/", "gemini/", "google/", "vertex_ai/")


@dataclass(frozen=True, slots=True)
class Price:
    input: float = 0.0
    output: float = 0.0
    cache_write: float = 0.0
    cache_read: float = 0.0
    input_above: float | None = None
    output_above: float | None = None
    cache_write_above: float | None = None
    cache_read_above: float | None = None


def _price(entry: dict[str, object]) -> Price | None:
    def number(name: str) -> float | None:
        value = entry.get(name)
        return float(value) if isinstance(value, int | float) else None

    if number("input_cost_per_token") is None and number("output_cost_per_token") is None:
        return None
    return Price(
        input=number("input_cost_per_token") or 0.0,
        output=number("output_cost_per_token") or 0.0,
        cache_write=number("cache_creation_input_token_cost") or 0.0,
        cache_read=number("cache_read_input_token_cost") or 0.0,
        input_above=number("input_cost_per_token_above_200k_tokens"),
        output_above=number("output_cost_per_token_above_200k_tokens"),
        cache_write_above=number("cache_creation_input_token_cost_above_200k_tokens"),
        cache_read_above=number("cache_read_input_token_cost_above_200k_tokens"),
    )


def parse_table(raw: object, source: str) -> dict[str, Price]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{source}: not a LiteLLM price table (expected a JSON object)")
    table = {
        name: price
        for name, entry in raw.items()
        if isinstance(entry, dict) and (price := _price(entry)) is not None
    }
    if not table:
        raise InvalidInput(f"{source}: no model has input_cost_per_token/output_cost_per_token")
    return table


def load_file(path: Path) -> dict[str, Price]:
    try:
        raw = json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InvalidInput(f"{path}: not valid JSON: {exc}") from exc
    return parse_table(raw, str(path))


class PriceTable:
    """Prices by model name, with the lookups LiteLLM users expect."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = prices

    @cache  # noqa: B019 - one table per process, few distinct models
    def lookup(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        for prefix in _PROVIDER_PREFIXES:
            if prefix + model in self.prices:
                return self.prices[prefix + model]
        bare = model.rsplit("/", 1)[-1]
        return self.prices.get(bare)

    def cost(
        self, model: str, input_tokens: int, cached: int, cache_write: int, output: int
    ) -> float:
        """USD for one request; tokens beyond 200k of a kind use the tier price."""
        price = self.lookup(model)
        if price is None:
            return 0.0
        return (
            _tiered(input_tokens, price.input, price.input_above)
            + _tiered(output, price.output, price.output_above)
            + _tiered(cache_write, price.cache_write, price.cache_write_above)
            + _tiered(cached, price.cache_read, price.cache_read_above)
        )


def _tiered(tokens: int, base: float, above: float | None) -> float:
    if above is None or tokens <= TIER_TOKENS:
        return tokens * base
    return TIER_TOKENS * base + (tokens - TIER_TOKENS) * above


def table_path(home: Path) -> Path:
    """Where ``tether prices update`` keeps its copy; the bundled table otherwise."""
    return home / "model_prices.json"


def load(home: Path) -> PriceTable:
    override = table_path(home)
    return PriceTable(load_file(override if override.exists() else BUNDLED))
