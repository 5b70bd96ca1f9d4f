"""The demo: a few hundred recorded executions for an empty file (``data``),
and a simulated engine that runs newly queued ones live (``engine``)."""
