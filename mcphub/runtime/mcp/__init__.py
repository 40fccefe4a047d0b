"""The MCP surface of the hub: server handlers, sessions, tool lists, the fast path and the stdio bridge."""
