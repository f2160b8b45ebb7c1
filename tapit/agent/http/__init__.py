"""The agent's HTTP API in Nomad's wire format (command/agent/): server.py's route table and
middleware, the plumbing beside it, and one module of endpoints per resource."""
