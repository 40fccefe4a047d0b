"""The builder: turns what a user brings (a file, a URL, a repository, docs, a text) into a hub spec and compiles it."""
