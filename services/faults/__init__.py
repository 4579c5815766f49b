"""Fault injection for the demo: rules per service and method, an interceptor and a CLI."""

from services.faults.interceptor import FaultInterceptor
from services.faults.rules import FaultRegistry, FaultRule, FaultRuleError

__all__ = ["FaultInterceptor", "FaultRegistry", "FaultRule", "FaultRuleError"]
