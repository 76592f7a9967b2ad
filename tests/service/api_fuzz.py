"""Schema-driven API testing, shared by the short run in CI (``tests/service/test_schema_fuzz.py``)
and the long one (``benchmarks/reliability.py``).

Schemathesis generates requests from the service's own OpenAPI document; each generated request
is sent once as every role below (its credentials in place of the generated ones) and every
answer is checked twice:

- against the schema: no 5xx, a documented status, the documented content type, a body that
  conforms to the documented schema, documented headers present, and a request the schema
  refuses refused (schemathesis's checks);
- against ``REACH``, the table of which roles each operation is meant to serve: a role that is not
  in an operation's entry must be refused at the door (401/403 with one of ``GATE_CODES``), a role
  that is must never be. An operation without an entry is a finding too, so a new route has to
  say whom it serves before this passes.

The roles: no credentials (the generated request as it is); a victim (the case number and its
PIN) and another victim (the same case number, the other case's PIN); a platform key for each
scope alone and a revoked key; a platform moderator's and hotline staff's sessions (cookie and
CSRF token). The roles' case number replaces the generated one, so that "a platform key cannot
read a case" is asked of a real case, not of a number that does not exist.

``routes`` reads the same tables off the routers' dependencies (a test compares them), the
routes outside the document (pages, the review UI's forms) get one request per role from
``sweep_outside_the_schema``, and ``run_stateful`` follows the document's links.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    unsupported_method,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.auth import api_keys, moderators
from service.auth.scopes import SCOPES
from service.db.engine import transaction
from service.db.models import Platform

from .helpers import BUSY, image_item, random_pdq

#: Every role a request is sent as. ``anonymous`` sends the generated request untouched.
KEY_ROLES = tuple(f"key:{scope}" for scope in SCOPES)
ROLES = ("anonymous", "victim", "other_victim", *KEY_ROLES, "key:revoked", "moderator:platform", "moderator:hotline")
ANYONE = frozenset(ROLES)
MODERATORS = frozenset({"moderator:platform", "moderator:hotline"})

#: Who each operation is meant to serve. Read off the routers' dependencies (``open_case``,
#: ``platform_with(scope)``, ``stopncii_platform(scope)``, ``moderator_with(role)``) and checked
#: against the answers: an entry that is wrong in either direction fails, and so does an
#: operation of the schema without one.
REACH: dict[str, frozenset[str]] = {
    "POST /v1/cases": ANYONE,
    "GET /v1/cases/{case_number}": frozenset({"victim"}),
    "DELETE /v1/cases/{case_number}": frozenset({"victim"}),
    "POST /v1/match": frozenset({"key:match"}),
    "POST /v1/match/image": frozenset({"key:match"}),
    "POST /v1/match/video": frozenset({"key:match"}),
    "GET /v1/review/queue": frozenset({"key:review"}),
    "POST /v1/review/decisions": frozenset({"key:review"}),
    "POST /v1/review/decisions/bulk": frozenset({"key:review"}),
    "PUT /v1/platform/webhook": frozenset({"key:review"}),
    "GET /v1/platform/webhook": frozenset({"key:review"}),
    "GET /v1/platform/webhook/deliveries": frozenset({"key:review"}),
    "GET /v1/platform/webhook/deliveries/{delivery_id}": frozenset({"key:review"}),
    "POST /v1/platform/webhook/deliveries/{delivery_id}/redeliver": frozenset({"key:review"}),
    "POST /v1/moderators/login": ANYONE,
    "GET /v1/moderators/me": MODERATORS,
    "POST /v1/moderators/logout": MODERATORS,
    "GET /v1/hotline/suspended": frozenset({"moderator:hotline"}),
    "GET /v1/hotline/hashes/{hash_id}": frozenset({"moderator:hotline"}),
    "POST /v1/hotline/hashes/{hash_id}/reinstate": frozenset({"moderator:hotline"}),
    "POST /v1/hotline/hashes/{hash_id}/retire": frozenset({"moderator:hotline"}),
    "POST /v1/hotline/cases/{case_number}/unlock": frozenset({"moderator:hotline"}),
    "GET /v1/hotline/queue": frozenset({"moderator:hotline"}),
    "GET /v1/exchange/hashes": frozenset({"key:exchange.read"}),
    "POST /v1/exchange/feedback": frozenset({"key:exchange.feedback"}),
    "GET /stopncii/v1/FetchHashes": frozenset({"key:exchange.read"}),
    "POST /stopncii/v1/SubmitFeedback": frozenset({"key:exchange.feedback"}),
    "POST /stopncii/v1/SubmitHashes": frozenset({"key:exchange.write"}),
    "GET /healthz": ANYONE,
    "GET /readyz": ANYONE,
    "GET /v1/strategy": ANYONE,
    "GET /v1/limits": ANYONE,
}

#: The routes outside the OpenAPI document (pages, the review UI's forms, static files, metrics),
#: under the same rule: ``sweep_outside_the_schema`` sends each one request as every role.
OUTSIDE_THE_SCHEMA: dict[str, frozenset[str]] = {
    "GET /openapi.json": ANYONE,
    "HEAD /openapi.json": ANYONE,
    "GET /": ANYONE,
    "HEAD /": ANYONE,
    "GET /status": ANYONE,
    "HEAD /status": ANYONE,
    "MOUNT /static": ANYONE,
    "GET /metrics": ANYONE,
    "MOUNT /review/static": ANYONE,
    "GET /review/login": ANYONE,
    "POST /review/login": ANYONE,
    "POST /review/logout": MODERATORS,
    "GET /review/": MODERATORS,
    "POST /review/bulk": frozenset({"moderator:platform"}),
    "GET /review/items/{event_id}": MODERATORS,
    "POST /review/items/{event_id}/decide": frozenset({"moderator:platform"}),
    "GET /review/hotline": frozenset({"moderator:hotline"}),
    "POST /review/hotline/hashes/{hash_id}/{action}": frozenset({"moderator:hotline"}),
}

#: The error codes of the doors: the answer a role gets where it does not belong.
GATE_CODES = frozenset({
    "case_auth_failed", "case_locked", "api_key_invalid", "api_key_scope",
    "moderator_session_required", "moderator_role", "csrf_token_invalid", "cross_origin_refused",
})

#: Where credentials travel; a role's request carries only its own.
CREDENTIAL_HEADERS = frozenset({"authorization", "ocp-apim-subscription-key", "x-functions-key", "x-case-pin",
                                "x-csrf-token", "cookie"})

def _refused_before_the_door(response, code: str | None) -> bool:
    """A request that cannot be read (400), whose JSON does not parse, or whose credential headers
    break the schema (422 with a header among its details) is refused as such before its door is
    asked: FastAPI reads the body first, and a door whose own header is invalid is not called (the
    answer then lists the request's other errors too). That answer is the same for every caller and
    tells nothing the schema does not; anything else about a request is judged after its door."""
    if (response.status_code, code) == (400, "bad_request"):
        return True
    if (response.status_code, code) != (422, "request_invalid"):
        return False
    # The door's own header was invalid (then every other error is listed too), or the JSON did not parse.
    details = response.json()["error"].get("details") or []
    return any(d.get("type") == "json_invalid" or (d.get("loc") or [""])[0] == "header" for d in details)


CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
    response_headers_conformance, negative_data_rejection, unsupported_method,
]

PASSWORD = "a fuzzing moderator's password"


def fuzz_settings_overrides() -> dict[str, Any]:
    """What the fuzzed app needs besides the tests' usual settings: the roles send wrong PINs to
    the victim's case thousands of times, which must not lock the victim out (the lockout has its
    own tests), and the seeded webhook points at a closed local port."""
    return dict(pin_max_attempts=10**9, webhook_allow_private_targets=True)


# --- who the routers' dependencies let in ---------------------------------------------------------


def _dependencies(dependant) -> list:
    found = []
    for sub in dependant.dependencies:
        found.append(sub.call)
        found += _dependencies(sub)
    return found


def _door(call) -> frozenset[str] | None:
    """The roles one dependency lets in (None: it is no door)."""
    name = getattr(call, "__name__", "")
    scopes = {scope.replace(".", "_"): scope for scope in SCOPES}
    for prefix in ("platform_with_", "stopncii_platform_"):
        if name.startswith(prefix):
            return frozenset({f"key:{scopes[name[len(prefix):]]}"})
    if name.startswith("moderator_with_"):
        return frozenset(f"moderator:{role}" for role in name[len("moderator_with_"):].split("_"))
    if name == "open_case":
        return frozenset({"victim"})
    return None


def routes(app) -> dict[str, tuple[frozenset[str], bool]]:
    """Every route of the app as ``"METHOD /path"`` (``"MOUNT /path"`` for mounted files): the roles
    its dependencies let in, and whether it is in the OpenAPI document."""
    from fastapi.routing import APIRoute, iter_route_contexts
    from starlette.routing import Mount

    found: dict[str, tuple[frozenset[str], bool]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            found[f"MOUNT {context.path}"] = (ANYONE, False)
            continue
        reach = ANYONE
        if isinstance(route, APIRoute):
            for call in _dependencies(route.dependant):
                door = _door(call)
                if door is not None:
                    reach = reach & door
        for method in sorted(route.methods):
            found[f"{method} {context.path}"] = (reach, bool(getattr(route, "include_in_schema", False)))
    return found


# --- the roles ----------------------------------------------------------------------------------


class Cast:
    """Every role's credentials against one running app, and the data that gives the answers
    something to show (matches, decisions, a suspended hash, a webhook delivery)."""

    def __init__(self, app) -> None:
        self.app = app
        self.keys: dict[str, str] = {}
        self.sessions: dict[str, str] = {}
        self.csrf: dict[str, str] = {}
        self.case_number = self.pin = self.other_pin = ""
        with asgi.get_client(app) as http:
            self.http = http
            self._set_up()

    def _set_up(self) -> None:
        with transaction(self.app.state.sessions) as session:
            for scope in SCOPES:
                platform = Platform(name=f"fuzz-{scope}")
                session.add(platform)
                self.keys[f"key:{scope}"] = api_keys.issue_key(session, platform, (scope,)).token
            revoked = Platform(name="fuzz-revoked")
            session.add(revoked)
            self.keys["key:revoked"] = api_keys.issue_key(session, revoked, tuple(SCOPES)).token
            session.flush()
            api_keys.revoke_platform(session, revoked)
            # A second key of the review platform, with every scope, to make its matches and decisions.
            review = session.query(Platform).filter_by(name="fuzz-review").one()
            self.seed_key = api_keys.issue_key(session, review, tuple(SCOPES)).token
            other = Platform(name="fuzz-other")
            session.add(other)
            self.other_key = api_keys.issue_key(session, other, tuple(SCOPES)).token
            moderators.create(session, self.app.state.settings, "fuzz-moderator", PASSWORD, platform="fuzz-review")
            moderators.create(session, self.app.state.settings, "fuzz-hotline", PASSWORD)
        for role, name in (("moderator:platform", "fuzz-moderator"), ("moderator:hotline", "fuzz-hotline")):
            self.log_in(role, name)
        self.case_number, self.pin, self.codes = self.open_case()
        _, self.other_pin, _ = self.open_case()
        self._seed()

    def log_in(self, role: str, name: str | None = None) -> None:
        name = name or {"moderator:platform": "fuzz-moderator", "moderator:hotline": "fuzz-hotline"}[role]
        response = self.http.post("/v1/moderators/login", json={"name": name, "password": PASSWORD})
        assert response.status_code == 200, response.text
        self.sessions[role] = response.cookies["ncii_review"]
        self.http.cookies.clear()  # each request carries its role's cookies only
        self.csrf[role] = response.json()["csrf_token"]

    def open_case(self) -> tuple[str, str, list[str]]:
        codes = [random_pdq() for _ in range(3)]
        response = self.http.post("/v1/cases", json={"items": [image_item(c) for c in codes]})
        assert response.status_code == 201, response.text
        return response.json()["case_number"], response.json()["pin"], codes

    def _seed(self) -> None:
        """Matches in the review platform's queue (one escalated, one removed: a webhook delivery),
        and a hash suspended by two platforms' feedback (the hotline's list)."""
        self.app.state.index.catch_up()
        seed = {"Authorization": f"Bearer {self.seed_key}"}
        other = {"Authorization": f"Bearer {self.other_key}"}
        put = self.http.put("/v1/platform/webhook", json={"url": "http://127.0.0.1:9/takedown"}, headers=seed)
        assert put.status_code in (200, 201), put.text
        queries = [{"signal": "pdq", "hash": c, "quality": 100, "structure": BUSY, "content_ref": f"upload/{i}"}
                   for i, c in enumerate(self.codes)]
        matched = self.http.post("/v1/match", json={"queries": queries}, headers=seed)
        assert matched.status_code == 200 and all(r["matches"] for r in matched.json()["results"]), matched.text
        queue = self.http.get("/v1/review/queue", headers=seed).json()
        events = [m["match_event_id"] for g in queue["groups"] for m in g["matches"]]
        for event, decision in zip(events, ("escalate", "ncii_remove")):
            decided = self.http.post("/v1/review/decisions", headers=seed,
                                     json={"match_event_id": event, "decision": decision, "reason": "seeded"})
            assert decided.status_code == 201, decided.text
        feed = self.http.get("/v1/exchange/hashes", headers=seed).json()
        record = next(r for r in feed["records"] if r["hash"] == self.codes[2])
        verdict = {"feedback": [{"hash_id": record["hash_id"], "signal": "pdq", "hash": record["hash"],
                                 "verdict": "not_blocked"}]}
        for headers in (seed, other):
            given = self.http.post("/v1/exchange/feedback", json=verdict, headers=headers)
            assert given.status_code == 200, given.text
        self.suspended_hash_id = record["hash_id"]

    def credentials(self, role: str) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and cookies a request sent as ``role`` carries."""
        if role in self.keys:
            key = self.keys[role]
            # Every way a platform presents its key: the native routes read the first, StopNCII's the others.
            return {"Authorization": f"Bearer {key}", "Ocp-Apim-Subscription-Key": key, "x-functions-key": key}, {}
        if role == "victim":
            return {"X-Case-PIN": self.pin}, {}
        if role == "other_victim":
            return {"X-Case-PIN": self.other_pin}, {}
        if role in self.sessions:
            return {"X-CSRF-Token": self.csrf[role]}, {"ncii_review": self.sessions[role]}
        return {}, {}

    def everything(self) -> tuple[dict[str, str], dict[str, str]]:
        """For the stateful runs, which follow links across roles: a key with every scope (in every
        header a platform uses) and hotline staff's session. A victim's PIN comes with the links."""
        key = self.seed_key
        return ({"Authorization": f"Bearer {key}", "Ocp-Apim-Subscription-Key": key, "x-functions-key": key,
                 "X-CSRF-Token": self.csrf["moderator:hotline"]}, {"ncii_review": self.sessions["moderator:hotline"]})

    def after(self, label: str, role: str, status: int) -> None:
        """Keep every role's credentials working: a logout ends a session, a withdrawal a case."""
        if role in MODERATORS and (label, status) in (("POST /v1/moderators/logout", 204), ("POST /review/logout", 303)):
            self.log_in(role)
        elif label == "DELETE /v1/cases/{case_number}" and status == 200 and role == "victim":
            self.case_number, self.pin, self.codes = self.open_case()


# --- one generated request, as every role --------------------------------------------------------


@dataclass
class Finding:
    kind: str  # "server_error", "schema", "auth"
    operation: str
    role: str
    status: int
    title: str
    detail: str = ""


@dataclass
class Tally:
    """What a run sent and found; ``findings`` keeps the first few of each (operation, role, title)."""

    requests: int = 0
    by_operation: Counter = field(default_factory=Counter)
    by_role: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    server_errors: int = 0
    schema_violations: int = 0
    auth_violations: int = 0
    #: Refused as unreadable or invalid (400, 422) before the role's door was asked: allowed for a
    #: request the schema itself refuses (``_refused_before_the_door``), counted apart.
    invalid_before_auth: int = 0
    findings: list[Finding] = field(default_factory=list)
    _seen: Counter = field(default_factory=Counter)

    def add(self, finding: Finding) -> None:
        key = (finding.kind, finding.operation, finding.role, finding.title)
        self._seen[key] += 1
        if self._seen[key] <= 3:
            self.findings.append(finding)

    @property
    def distinct_findings(self) -> int:
        return len(self._seen)


def _error_code(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _as_role(case, role: str, cast: Cast):
    """The generated request with the role's credentials instead of the generated ones."""
    if role == "anonymous":
        return case, {}, {}
    variant = type(case)(
        case.operation, case.method, case.path, path_parameters=dict(case.path_parameters), headers=CaseInsensitiveDict(case.headers),
        cookies=dict(case.cookies), query=copy.deepcopy(case.query), body=copy.deepcopy(case.body),
        media_type=case.media_type, multipart_content_types=case.multipart_content_types,
        meta=copy.deepcopy(case._meta),
    )
    # Assigned, not edited in place, so schemathesis revalidates what is sent: a request whose only
    # schema violation was in a credential header it no longer carries counts as a valid one.
    variant.headers = CaseInsensitiveDict({k: v for k, v in case.headers.items() if k.lower() not in CREDENTIAL_HEADERS})
    if "case_number" in case.path_parameters:
        variant.path_parameters = {**case.path_parameters, "case_number": cast.case_number}
    headers, cookies = cast.credentials(role)
    return variant, headers, cookies


def _is_negative(case) -> bool:
    meta = case.meta
    return meta is not None and any(c.mode.is_negative for c in meta.components.values())


def exercise(case, cast: Cast, tally: Tally, roles: tuple[str, ...] = ROLES) -> list[Finding]:
    """Send ``case`` as every role, check every answer; returns this case's findings (also tallied)."""
    label = case.operation.label
    reach = REACH.get(label)
    found: list[Finding] = []

    def report(finding: Finding) -> None:
        found.append(finding)
        tally.add(finding)

    if reach is None:
        report(Finding("auth", label, "-", 0, "operation missing from REACH"))
        tally.auth_violations += 1
        return found
    for role in roles:
        variant, headers, cookies = _as_role(case, role, cast)
        response = variant.call(app=cast.app, headers=headers, cookies=cookies)
        status = response.status_code
        tally.requests += 1
        tally.by_operation[label] += 1
        tally.by_role[role] += 1
        tally.statuses[status] += 1
        found += _check(variant, response, headers, cast, tally, role)
        code = _error_code(response)
        if variant.method.upper() != case.operation.method.upper():
            # The coverage phase tries methods the route does not have: 405 for everyone (checked above).
            cast.after(label, role, status)
            continue
        at_the_door = _at_the_door(response)
        if role in reach and at_the_door:
            tally.auth_violations += 1
            report(Finding("auth", label, role, status, "refused a role the operation serves", str(code)))
        elif role not in reach and not at_the_door:
            if _is_negative(variant) and _refused_before_the_door(response, code):
                tally.invalid_before_auth += 1
            else:
                tally.auth_violations += 1
                report(Finding("auth", label, role, status, "reached by a role it does not serve",
                               f"{code} {response.text[:300]}"))
        cast.after(label, role, status)
    return found


def _check(case, response, headers: dict, cast: Cast, tally: Tally, role: str) -> list[Finding]:
    found = []
    try:
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": cast.app})
    except FailureGroup as group:
        for failure in group.exceptions:
            server = response.status_code >= 500
            tally.server_errors += server
            tally.schema_violations += not server
            finding = Finding("server_error" if server else "schema", case.operation.label, role, response.status_code,
                              failure.title, failure.message[:500])
            found.append(finding)
            tally.add(finding)
    return found


def usable_case(body) -> dict:
    """A case that opens (one picture's PDQ hash), drawn from the generated body: the stateful runs
    start their chains from it (a generated case is almost never usable)."""
    code = hashlib.sha256(json.dumps(body, sort_keys=True, default=repr).encode()).hexdigest()
    return {"items": [image_item(code)]}


def run_stateful(schema, cast: Cast, tally: Tally, runs: int, steps: int = 10, strict: bool = False) -> dict:
    """schemathesis's state machine along the schema's links, ``runs`` scenarios of up to ``steps``
    calls, as ``Cast.everything``. Checked against the schema (the roles' matrix is the stateless
    runs' job: these calls carry several roles' credentials at once). ``strict``: raise at the first
    finding (the test); otherwise they are tallied (the benchmark)."""
    import hypothesis

    import schemathesis
    from schemathesis.config import SchemathesisConfig

    requests_before = tally.requests
    links: Counter = Counter()
    # The stateless runs' schema has the stateful phase off (schemathesis would skip every link).
    config = SchemathesisConfig.from_dict({"generation": {"deterministic": True, "mode": "all", "database": "none"}})
    base = schemathesis.openapi.from_dict(schema.raw_schema, config=config).as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def step(self, input):
            if input.transition is not None and input.is_applied:
                links[input.transition.id] += 1
            return super().step(input)

        def before_call(self, case) -> None:
            # The credentials are this run's (get_call_kwargs) except a PIN a link brought: assigned, so
            # that schemathesis revalidates what is sent (a mutated Authorization is not sent).
            case.headers = CaseInsensitiveDict({k: v for k, v in case.headers.items()
                                                if k.lower() not in CREDENTIAL_HEADERS or k.lower() == "x-case-pin"})
            if case.operation.label == "POST /v1/cases":
                case.body = usable_case(case.body)

        def get_call_kwargs(self, case) -> dict:
            headers, cookies = cast.everything()
            return {"app": cast.app, "headers": headers, "cookies": cookies}

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            tally.requests += 1
            tally.by_operation[case.operation.label] += 1
            tally.by_role["stateful"] += 1
            tally.statuses[response.status_code] += 1
            found = _check(case, response, kwargs.get("headers") or {}, cast, tally, "stateful")
            if response.status_code == 204 and case.operation.label == "POST /v1/moderators/logout":
                cast.log_in("moderator:hotline")
            if strict and found:
                raise AssertionError(describe(found))

    Machine.run(settings=hypothesis.settings(
        max_examples=runs, stateful_step_count=steps, derandomize=True, database=None, deadline=None,
        phases=[hypothesis.Phase.generate], suppress_health_check=list(hypothesis.HealthCheck),
    ))
    return {"runs": runs, "max_steps": steps, "requests": tally.requests - requests_before, "links": dict(links)}


def _at_the_door(response) -> bool:
    """Refused for who is asking: a door's 401/403 (or a locked case's 429), or a page's way to the login."""
    if response.status_code == 303:  # a page's door (a logout's own redirect has no error code)
        return _error_code(response) == "login_required"
    return response.status_code in (401, 403, 429) and _error_code(response) in GATE_CODES


def sweep_outside_the_schema(cast: Cast, tally: Tally) -> list[Finding]:
    """One plain request to each route outside the schema, as every role: refused at the door
    unless ``OUTSIDE_THE_SCHEMA`` says the role belongs (forms are sent empty: a role that belongs
    gets a 4xx for the missing fields, not the door)."""
    found: list[Finding] = []
    fill = {"{event_id}": "1", "{hash_id}": cast.suspended_hash_id, "{action}": "reinstate"}
    for label, reach in OUTSIDE_THE_SCHEMA.items():
        method, path = label.split(" ", 1)
        if method == "MOUNT":
            continue
        for key, value in fill.items():
            path = path.replace(key, str(value))
        for role in ROLES:
            headers, cookies = cast.credentials(role)
            data = {} if method == "POST" else None
            response = cast.http.request(method, path, headers=headers, cookies=cookies, data=data,
                                         allow_redirects=False)
            tally.requests += 1
            tally.by_operation[label] += 1
            tally.by_role[role] += 1
            tally.statuses[response.status_code] += 1
            refused = _at_the_door(response)
            problem = None
            if response.status_code >= 500:
                tally.server_errors += 1
                problem = Finding("server_error", label, role, response.status_code, "server error")
            elif role in reach and refused:
                tally.auth_violations += 1
                problem = Finding("auth", label, role, response.status_code, "refused a role the route serves")
            elif role not in reach and not refused:
                tally.auth_violations += 1
                problem = Finding("auth", label, role, response.status_code, "reached by a role it does not serve")
            if problem is not None:
                found.append(problem)
                tally.add(problem)
            cast.after(label, role, response.status_code)
    return found


def describe(findings: list[Finding]) -> str:
    return "\n".join(f"- [{f.kind}] {f.operation} as {f.role}: {f.status} {f.title} {f.detail}".rstrip()
                     for f in findings)
