"""The payment service: idempotent charges, refunds and reconciliation, over gRPC."""
