"""What goes out, when, exactly once: what a digest holds and how it is built (``digest``),
fan-out and one delivery through the ledger (``engine``), servers taking turns for send slots
(``fairness``), the locked send loop (``sender``),
start-up reconciliation of pending rows (``reconcile``), admin notices and stalled sources
(``notices``), what a delivery comes to (``outcome``), cron per subscription (``scheduler``),
client-side rate limits (``ratelimit``), the vote keycaps added under posted digests in the
background (``seeding``), and follow alerts by direct message when a new week arrives
(``follows``). May import ``bot.core``, ``bot.storage``, ``bot.papers``
and ``bot.ops``."""
