"""Fault injection for the demo: the rules and their registry (`rules.py`) and the CLI.

The interceptor that applies them to gRPC calls is `services/platform/faults_interceptor.py`,
the gateway's hook `services/gateway/faults.py`; this package imports neither.
"""
