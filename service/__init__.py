"""ragmeter's service: the HTTP API, its settings and the command line."""
