"""Talking to Nomad: job translation, status reading, and the HTTP client."""
