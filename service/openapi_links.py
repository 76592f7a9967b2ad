"""OpenAPI links: what a client can do next with an answer (a case opened: read or withdraw it
with its PIN; a queue page: decide its first match; a feed page: the next one).

They document the API's flows in ``/openapi.json``, and schemathesis's stateful tests follow
them (``tests/service/api_fuzz.py``, ``benchmarks/reliability.py``). Each route puts its links
on its success answer: ``responses={200: {"links": {...}}}``.
"""

from __future__ import annotations

from typing import Any


def operation_ref(method: str, path: str) -> str:
    """A JSON pointer to an operation of this document (``/`` and ``~`` escaped as the pointer syntax says)."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()


def link(method: str, path: str, description: str, *, parameters: dict[str, str] | None = None,
         request_body: Any = None) -> dict[str, Any]:
    """A Link Object. ``parameters`` are named ``{in}.{name}`` (``path.case_number``,
    ``header.x-case-pin``); values are runtime expressions (``$response.body#/pin``).
    ``request_body`` gives the fields the link fills (the rest is the client's)."""
    defined: dict[str, Any] = {"operationRef": operation_ref(method, path), "description": description}
    if parameters:
        defined["parameters"] = parameters
    if request_body is not None:
        defined["requestBody"] = request_body
    return defined


def on(status: int, **links: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """``responses`` entry that adds ``links`` to the answer with ``status``."""
    return {status: {"links": links}}
