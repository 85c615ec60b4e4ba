"""``tether prices update``: fetch genai-prices' newest data, keep it, re-cost the ledger."""

from pathlib import Path

from tether.config import Config
from tether.errors import InvalidInput, TetherError
from tether.history.pricing import PriceTable, data_path, parse_data
from tether.ledger import history as ledger_history
from tether.ledger.store import Ledger

FETCH_TIMEOUT_S = 30.0
MAX_DATA_BYTES = 64 * 1024 * 1024


class PriceFetchError(TetherError):
    """The price data could not be fetched; the prices in use are unchanged."""


def default_url() -> str:
    """The data file genai-prices' own updater fetches."""
    from genai_prices.update_prices import DEFAULT_UPDATE_URL

    return DEFAULT_UPDATE_URL


def fetch(url: str) -> bytes:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=FETCH_TIMEOUT_S, follow_redirects=True) as answer:
            answer.raise_for_status()
            body = bytearray()
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_DATA_BYTES:
                    raise PriceFetchError(f"{url}: more than {MAX_DATA_BYTES} bytes, refused")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise PriceFetchError(f"cannot fetch prices from {url}: {exc}") from exc


def update_prices(
    config: Config, ledger: Ledger, data: bytes, source: str
) -> tuple[int, int, list[str]]:
    """Validate ``data``, keep it under TETHER_HOME, recompute every entry's cost.

    Returns (models priced, entries re-costed, models still unpriced).
    """
    import json

    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise InvalidInput(f"{source}: not valid JSON: {exc}") from exc
    providers = parse_data(raw, source)
    target = data_path(config.home)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    entries, unpriced = recost(ledger, PriceTable(target))
    return sum(len(p.models) for p in providers), entries, unpriced


def recost(ledger: Ledger, table: PriceTable) -> tuple[int, list[str]]:
    """Every usage entry's cost from ``table``: (entries, models it does not price)."""
    with ledger.db.write() as conn:
        rows = ledger_history.entry_amounts(conn)
        ledger_history.set_costs(
            conn, [(pk, table.cost(model, ts, i, c, w, o)) for pk, model, ts, i, c, w, o in rows]
        )
    return len(rows), sorted({row[1] for row in rows if not table.priced(row[1])})


def price_unpriced(ledger: Ledger, table: PriceTable) -> int:
    """Cost the entries stored unpriced whose model ``table`` now prices; how many."""
    with ledger.db.write() as conn:
        rows = ledger_history.unpriced_amounts(conn)
        costs = [(pk, table.cost(model, ts, i, c, w, o)) for pk, model, ts, i, c, w, o in rows]
        priced = [(pk, cost) for pk, cost in costs if cost is not None]
        ledger_history.set_costs(conn, priced)
    return len(priced)


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
