"""Evaluations: read one (api/evaluations.go, command/agent/eval_endpoint.go)."""

from __future__ import annotations

import nomad.api

from tapit.nomad.transport import Transport, path_id


class Evaluations:
    def __init__(self, transport: Transport):
        self._t = transport
        self._evaluation = transport.python_nomad(nomad.api.Evaluation)

    def info(self, eval_id: str) -> dict:
        return self._t.rest(
            lambda: self._evaluation.get_evaluation(path_id(eval_id)), self._t.needs("read-job"), lookup=True
        )
