"""An OCI distribution registry as a werkzeug WSGI app, for tests and debugging."""
