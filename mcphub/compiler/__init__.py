"""The spec compiler: hub spec + API description -> IR -> generated MCP package."""
