"""MCP Hub: one MCP endpoint for every service a user connects."""

__version__ = "0.1.0"
