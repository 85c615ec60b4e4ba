"""Cost from genai-prices, Pydantic's maintained price data, bundled in its package.

genai-prices knows current and retired models by matching rules (every dated
``claude-sonnet-4-…`` is Sonnet 4), prices by date, cache read and write
prices, and long-context tiers. ``tether prices update`` fetches its newest
data file into ``$TETHER_HOME/prices.json``, which then wins over the
bundled one. A model it does not know is **unpriced**: its cost is ``None``,
never 0, so reports can show the tokens nobody priced.

genai-prices' own calculator takes about a millisecond per call; the rates
of a model in a minute are resolved from it once and applied here in floats.
The package is imported only when the first cost is asked for, so commands
and passes that price nothing never pay for it.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tether.errors import InvalidInput

PER = 1_000_000  # genai-prices gives USD per million tokens
_KINDS = ("input_mtok", "cache_read_mtok", "cache_write_mtok", "output_mtok")


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per million tokens of one kind; above ``start`` input tokens the tier's price
    applies to all of a request's tokens of that kind (the providers' "cliff")."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()

    def at(self, request_input: int) -> float:
        price = self.base
        for start, tier_price in self.tiers:
            if request_input > start:
                price = tier_price
        return price


@dataclass(frozen=True, slots=True)
class Rates:
    """The four rates of a model in one price period: input, cache read, cache write, output.
    Without tiers (most models) a request's cost is four products, not four ``at`` lookups."""

    kinds: tuple[Rate, Rate, Rate, Rate]
    flat: tuple[float, float, float, float] | None  # the base prices, when no kind has tiers

    @classmethod
    def of(cls, kinds: tuple[Rate, Rate, Rate, Rate]) -> "Rates":
        tiered = any(rate.tiers for rate in kinds)
        return cls(
            kinds, None if tiered else (kinds[0].base, kinds[1].base, kinds[2].base, kinds[3].base)
        )

    def cost(self, input_tokens: int, cached: int, cache_write: int, output: int) -> float:
        """USD for one request (input excludes cached and cache-write tokens)."""
        if self.flat is None:
            request_input = input_tokens + cached + cache_write
            fresh, read, write, out = (rate.at(request_input) for rate in self.kinds)
        else:
            fresh, read, write, out = self.flat
        return (input_tokens * fresh + cached * read + cache_write * write + output * out) / PER


def _rate(value: object, fallback: Rate | None) -> Rate:
    if isinstance(value, Decimal):
        return Rate(float(value))
    base = getattr(value, "base", None)
    if isinstance(base, Decimal):
        tiers = tuple((int(t.start), float(t.price)) for t in getattr(value, "tiers", ()))
        return Rate(float(base), tiers)
    return fallback if fallback is not None else Rate(0.0)


class PriceTable:
    """Costs by model and day, from a genai-prices data snapshot loaded on first use."""

    def __init__(self, data_file: Path | None = None) -> None:
        self.data_file = data_file
        self._snapshot: Any = None
        self._models: dict[str, Any] = {}  # model name -> genai-prices ModelInfo, or None
        self._fixed: dict[str, Rates | None] = {}  # models priced the same at any time
        self._timed: dict[tuple[str, int], Rates] = {}  # the others, by minute
        self._by_price: dict[int, tuple[Any, Rates]] = {}  # keeps the price set, so ids stay unique

    def _model(self, model: str) -> Any:
        if model not in self._models:
            if self._snapshot is None:
                self._snapshot = _snapshot(self.data_file)
            try:
                self._models[model] = self._snapshot.find_provider_model(model, None, None, None)[1]
            except LookupError:
                self._models[model] = None
        return self._models[model]

    def rates(self, model: str, ts: float) -> Rates | None:
        """The model's rates in the minute of ``ts`` (prices change by date, and for some
        providers by time of day); None if no price is known."""
        if model in self._fixed:
            return self._fixed[model]
        minute = int(ts // 60)
        rates = self._timed.get((model, minute))
        if rates is None:
            info = self._model(model)
            if info is None or not isinstance(info.prices, list):  # not conditional prices
                self._fixed[model] = None if info is None else self._resolved(info, minute * 60)
                return self._fixed[model]
            rates = self._timed[(model, minute)] = self._resolved(info, minute * 60)
        return rates

    def _resolved(self, info: Any, ts: float) -> Rates:
        prices = info.get_prices(datetime.fromtimestamp(ts, UTC))
        key = id(prices)
        if key not in self._by_price:  # few distinct price sets: resolve each once
            self._by_price[key] = (prices, _rates_of(prices))
        return self._by_price[key][1]

    def priced(self, model: str) -> bool:
        return self._model(model) is not None

    def cost(
        self, model: str, ts: float, input_tokens: int, cached: int, cache_write: int, output: int
    ) -> float | None:
        """USD for one request (input excludes cached and cache-write tokens); None: unpriced."""
        rates = self.rates(model, ts)
        return None if rates is None else rates.cost(input_tokens, cached, cache_write, output)


def _rates_of(prices: Any) -> Rates:
    values = [getattr(prices, kind, None) for kind in _KINDS]
    base_input = _rate(values[0], None)
    # Cached tokens are input tokens: without a price of their own they cost what input costs.
    return Rates.of(
        (
            base_input,
            _rate(values[1], base_input),
            _rate(values[2], base_input),
            _rate(values[3], None),
        )
    )


def _snapshot(data_file: Path | None) -> Any:
    from genai_prices.data_snapshot import DataSnapshot, get_snapshot

    if data_file is None:
        return get_snapshot()
    return DataSnapshot(parse_data(_read(data_file), str(data_file)), from_auto_update=False)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InvalidInput(f"{path}: not valid JSON: {exc}") from exc


def parse_data(raw: object, source: str) -> list[Any]:
    """genai-prices providers from its JSON data file; InvalidInput if it is not one."""
    # The parser genai-prices' own updater (UpdatePrices.fetch) uses on this file.
    from genai_prices.types import _providers_from_raw
    from pydantic import ValidationError

    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{source}: not a genai-prices data file (expected a list of providers)")
    try:
        providers: list[Any] = _providers_from_raw(raw)
    except (ValidationError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0]
        raise InvalidInput(f"{source}: not a genai-prices data file: {first}") from exc
    if not any(provider.models for provider in providers):
        raise InvalidInput(f"{source}: no provider in it has a priced model")
    return providers


def data_path(home: Path) -> Path:
    """Where ``tether prices update`` keeps the data it fetched."""
    return home / "prices.json"


def load(home: Path) -> PriceTable:
    """The updated data under ``home`` if there is one, else genai-prices' bundled data."""
    fetched = data_path(home)
    return PriceTable(fetched if fetched.exists() else None)
