"""Telegram handlers: Telegram updates in, core calls, Telegram calls out.

Filled by the Telegram issue; the core in `bot/` must never import from here.
"""
