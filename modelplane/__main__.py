"""`python -m modelplane`: the CLI (what the background worker is started with)."""

from modelplane.cli import main

main()
