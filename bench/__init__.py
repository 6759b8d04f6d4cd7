"""`make bench`: throughput of the event backbone against raw baselines measured in the same run.

One run starts its own embedded PostgreSQL (durable, as `make run` uses it) and its own Tansu broker,
measures four figures — event-store appends, relay publishing, projector applying, HTTP deposits —
each beside a baseline doing the same raw work without our machinery, prints them with their ratios
and writes bench/results/latest.json. Figures only: nothing here passes or fails.
"""
