"""`python -m modelplane`: the CLI (what the background worker is started with)."""

from modelplane.quick import main

main()
