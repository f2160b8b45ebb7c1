"""The agent's state: the store of jobs, allocations, evaluations and variables with its indexes,
blocking waits and files (nomad/state/state_store.go, state_store_variables.go), and the event
broker every write publishes to (nomad/stream)."""
