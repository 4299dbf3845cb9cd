"""What every layer may use: the error hierarchy (``errors``), time as a dependency
(``clock``), the neutral chat messages (``messages``), text helpers (``text``), a GC pause for
bulk builds (``perf``) and the arXiv metadata record (``arxivmeta``). Imports nothing else
from ``bot``."""
