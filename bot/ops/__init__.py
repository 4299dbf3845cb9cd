"""Running it: Prometheus metrics (``metrics``) and structured logs (``logs``). May import
``bot.core`` only."""
