"""Pure translation between tapit's tasks and Nomad's objects: no I/O."""
