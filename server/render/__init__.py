"""How the views look on the wire, with no HTTP and no I/O: the native
shapes (``wire``), times, the native export's CSV and JSON rows, and masking."""
