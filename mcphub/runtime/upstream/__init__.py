"""Everything that talks to upstreams: the HTTP client, wire serialisation, egress rules, transports,
response shaping, credentials as applied to requests, and one executor per source kind (`executors/`)."""
