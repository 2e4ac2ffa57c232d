"""Telegram handlers: translate Telegram updates into core calls and core replies into Telegram calls.

Filled by the Telegram issue; the core in `bot/` must never import from here.
"""
