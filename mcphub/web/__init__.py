"""HTTP surfaces besides /mcp: the JSON API (`web.api`) and, later, the dashboard pages."""
