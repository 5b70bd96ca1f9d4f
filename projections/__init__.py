"""Views folded from the log: summary table, detail fold, replay, rebuild.

Built by the views issue; this package only ever imports ``eventstore``.
"""
