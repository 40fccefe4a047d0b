"""Source kinds: each module turns one kind of API description into the IR."""
