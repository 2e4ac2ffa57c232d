"""tanya: the core of a regency government's public-information bot.

The core never imports Telegram: the terminal chat, the CLI, the tests and the Telegram
handlers all drive the same logic through plain dataclasses.
"""

__version__ = "0.1.0"
