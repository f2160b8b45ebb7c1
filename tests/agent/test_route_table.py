"""The agent's route table, held to what it says: docs/agent.md lists exactly its endpoints, each
endpoint reads exactly the query parameters its row declares, and a method a path does not serve
is Nomad's 405.  `python tests/agent/test_route_table.py` rewrites the table in docs/agent.md."""

import ast
import inspect
import re
import textwrap
from pathlib import Path

from tapit.agent.http.server import ROUTES

DOC = Path(__file__).parents[2] / "docs" / "agent.md"
BEGIN = "<!-- endpoints: written by tests/agent/test_route_table.py from the route table -->"
END = "<!-- /endpoints -->"
# Every JSON answer honours ?pretty (http.go wrap); docs/agent.md says so once, not per row.
EVERY_JSON_ANSWER = {"pretty"}


def shown(path: str) -> str:
    """A route's path as Nomad's documentation writes it: `{job_id:.*}` is `{job_id}`."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def endpoint_table() -> str:
    rows = ["| Method | Path | Follows (command/agent/) | Query parameters |", "|---|---|---|---|"]
    for endpoint in ROUTES:
        params = ", ".join(f"`{p}`" for p in endpoint.params) or "—"
        rows.append(f"| {', '.join(endpoint.methods)} | `{shown(endpoint.path)}` | {endpoint.follows} | {params} |")
    return "\n".join(rows)


def documented_table(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def test_docs_list_every_endpoint_of_the_route_table():
    assert documented_table(DOC.read_text()) == endpoint_table(), (
        "docs/agent.md does not list the route table: run `python tests/agent/test_route_table.py`"
    )


def test_what_the_docs_say_is_not_served_is_not_in_the_route_table():
    """A path that comes to be served leaves the "Not served" list of docs/agent.md."""
    section = DOC.read_text().split("## Not served", 1)[1]
    not_served = {re.sub(r"\{[^}]*\}", "{}", p) for p in re.findall(r"^- `([^`]+)`", section, re.MULTILINE)}
    assert len(not_served) > 20
    served = {re.sub(r"\{[^}]*\}", "{}", shown(endpoint.path)) for endpoint in ROUTES}
    assert not not_served & served


def query_params_read(function, seen=None) -> set[str]:
    """The query parameters a handler reads, itself or through the helpers of tapit.agent.http it
    calls: `request.query.get("x")`, `q["x"]`, `"x" in request.query`, and `parser(request, "x")`
    for each parser there whose parameters begin `(request, name)`."""
    seen = seen if seen is not None else set()
    if function in seen:
        return set()
    seen.add(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))

    def is_query(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "query") or (
            isinstance(node, ast.Name) and node.id == "q"
        )

    def name(node) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func, args = node.func, node.args
            if isinstance(func, ast.Attribute) and func.attr in ("get", "getall") and is_query(func.value) and args:
                found.add(name(args[0]))
            callee = function.__globals__.get(func.id) if isinstance(func, ast.Name) else None
            if not (inspect.isfunction(callee) and callee.__module__.startswith("tapit.agent.http")):
                continue
            if list(inspect.signature(callee).parameters)[:2] == ["request", "name"] and len(args) >= 2:
                found.add(name(args[1]))
            found |= query_params_read(callee, seen)
        elif isinstance(node, ast.Subscript) and is_query(node.value):
            found.add(name(node.slice))
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In) and is_query(node.comparators[0]):
            found.add(name(node.left))
    return found - {None}


def test_each_endpoint_reads_exactly_the_query_parameters_its_row_declares():
    for endpoint in ROUTES:
        read = query_params_read(endpoint.handler) - EVERY_JSON_ANSWER
        assert read == set(endpoint.params), (endpoint.methods, endpoint.path)


def test_a_method_a_path_does_not_serve_is_invalid_method(agent):
    """Nomad's handlers check req.Method first: CodedError(405, ErrInvalidMethod), HEAD included,
    or CodedError(400, ErrInvalidMethod) in the few that say so (VariableSpecificRequest)."""
    methods = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS")
    served: dict[str, set[str]] = {}
    status: dict[str, int] = {}
    for endpoint in ROUTES:
        served.setdefault(endpoint.path, set()).update(endpoint.methods)
        assert status.setdefault(endpoint.path, endpoint.invalid_method) == endpoint.invalid_method, endpoint.path
    assert set(status.values()) == {400, 405}
    for path, allowed in served.items():
        concrete = re.sub(r"\{[^}]+\}", "some-id", path)
        for method in set(methods) - allowed:
            resp = agent.http.request(method, concrete)
            assert (resp.status_code, resp.text) == (status[path], "" if method == "HEAD" else "Invalid method"), (
                method,
                concrete,
            )


if __name__ == "__main__":
    before, rest = DOC.read_text().split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    DOC.write_text(f"{before}{BEGIN}\n{endpoint_table()}\n{END}{after}")
