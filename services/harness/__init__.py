"""What tests, benchmarks and chaos scenarios start around the shop (never used in production).

- shop.py: `Shop`, the one handle on a whole running shop (every process on free ports).
- polling.py: `wait_until`, the one way to wait for a condition (a deadline, never a sleep).
- metrics.py: a process's /metrics read back as samples.
- postgres.py: a throwaway PostgreSQL server.

The open-loop load generator they share is services/loadgen/open_loop.py.
"""
