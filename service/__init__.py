"""The web service: API, domain services, web interface and command line."""
