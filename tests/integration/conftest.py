"""Fixtures of the in-process API and page tests: the app on an ASGI transport."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tether.config import Config
from tether.engine.supervisor import Engine
from tether.ledger.store import Ledger
from tether.server.app import create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(config: Config, ledger: Ledger) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(config, ledger, Engine(config, ledger)))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7700") as c:
        yield c
