"""The shop's Grafana dashboards as code: panels.py holds the builders, one module per dashboard.

build.py writes them to dashboards/grafana/dashboards/*.json (see its docstring).
"""
