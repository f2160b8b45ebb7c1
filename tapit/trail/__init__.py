"""The audit trail as the cluster keeps it (pure: the records and their merge)."""
