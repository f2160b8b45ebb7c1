"""The agent's state: the store of jobs, allocations and evaluations with its indexes, blocking
waits and files (nomad/state/state_store.go), and the event broker every write publishes to
(nomad/stream)."""
