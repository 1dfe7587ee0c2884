"""Jinja2 templates: scaffolds, reports, vLLM command lines."""
