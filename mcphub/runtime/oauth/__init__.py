"""OAuth 2.0: the hub as a client of upstreams (`upstream`); later, the hub as an MCP authorization server."""
