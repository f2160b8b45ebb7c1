"""The client's alloc runners and task runners (client/allocrunner, client/allocrunner/taskrunner)."""
