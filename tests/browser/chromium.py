"""Where Debian's chromium is and how every browser test and script starts it.

Shared by the browser tests and ``scripts/screenshots.py`` so a flag that a
new chromium needs is added once.
"""

import os

CHROMIUM = os.environ.get("TETHER_CHROMIUM", "/usr/bin/chromium")
INSTALL_HINT = "apt-get update && apt-get install -y chromium"

# Flags for any launch, Playwright's included (it adds its own headless mode).
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# A one-shot command-line run (``--screenshot``) also needs headless.
HEADLESS_FLAGS = ("--headless", *FLAGS)
