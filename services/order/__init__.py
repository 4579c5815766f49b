"""The order service: places orders, charges them, and streams their status."""
