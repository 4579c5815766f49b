"""Size limits every service and the gateway apply alike, each written once."""

from __future__ import annotations

# Identifiers, idempotency keys and SKUs: far above the 32 characters of `new_id()`, small
# enough that a hostile id cannot bloat a database row, a log line or a span attribute.
MAX_ID_LENGTH = 128

# List calls: 0 asks for the default page, larger than the maximum is refused by the
# gateway (400) and capped by the order service (its callers are trusted services).
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000
