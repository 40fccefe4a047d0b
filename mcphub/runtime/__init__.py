"""The runtime: mounts compiled packages behind one MCP endpoint."""
