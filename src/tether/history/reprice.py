"""``tether prices update FILE``: install a LiteLLM price table and re-cost the ledger."""

import shutil
from pathlib import Path

from tether.config import Config
from tether.history.pricing import PriceTable, load_file, table_path
from tether.ledger import history as ledger_history
from tether.ledger.store import Ledger


def update_prices(config: Config, ledger: Ledger, source: Path) -> tuple[int, int]:
    """Validate ``source``, keep a copy under TETHER_HOME, recompute every entry's cost.

    Returns (models priced, entries re-costed).
    """
    prices = load_file(source)
    target = table_path(config.home)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    table = PriceTable(prices)
    with ledger.db.write() as conn:
        rows = ledger_history.entry_amounts(conn)
        ledger_history.set_costs(
            conn, [(pk, table.cost(model, i, c, w, o)) for pk, model, i, c, w, o in rows]
        )
    return len(prices), len(rows)
