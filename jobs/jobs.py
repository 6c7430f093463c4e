"""The jobs app's own job functions, found by discovery like any app's
`jobs.py`: the examples `make run` loads (examples/jobs.yaml) are offered to
database-defined jobs here."""

from jobs import examples  # noqa: F401  (its @runnable functions register on import)
