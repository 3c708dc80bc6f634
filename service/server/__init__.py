"""The HTTP server: the API routers, batch jobs, tenancy and quotas, telemetry, migrations and the web page."""
