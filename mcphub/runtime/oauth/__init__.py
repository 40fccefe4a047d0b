"""OAuth 2.0: the hub as a client of upstreams (`upstream`) and as its own MCP authorization server (`authserver`)."""
