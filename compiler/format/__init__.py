"""``modelplane fmt``: spec files in canonical key order and spellings, comments kept (pure: text in, text out)."""
