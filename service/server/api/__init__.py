"""The HTTP routers, one per area."""
