"""One executor per source kind: how a tool of an `http`, `graphql`, `sql` or `mcp` integration is run."""
