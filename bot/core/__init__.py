"""What every layer may use: the error hierarchy (``errors``), time as a dependency
(``clock``), the neutral chat messages (``messages``), text helpers (``text``) and a GC pause for
bulk builds (``perf``). Imports nothing else from ``bot``."""
