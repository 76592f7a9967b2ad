"""Victims: submit a case (hashes only), see its status, withdraw it."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..bank import cases as bank_cases
from ..bank import videos
from ..db.models import Case
from ..deps import CASE_PIN_ERRORS, DbSession, as_utc, get_settings, open_case
from ..errors import BODY_ERRORS, ApiError, errors
from ..openapi_links import link, on
from ..schemas import CaseCreate, CaseCreated, CaseStatusOut, CaseWithdrawn, ItemResult, ItemStatusOut
from ..settings import Settings

router = APIRouter(prefix="/v1/cases", tags=["cases (victims)"])

_THE_CASE = {"path.case_number": "$response.body#/case_number"}
OPENED = on(
    201,
    CaseStatus=link("GET", "/v1/cases/{case_number}", "The case's status, with the PIN of this answer (shown once).",
                    parameters={**_THE_CASE, "header.x-case-pin": "$response.body#/pin"}),
    WithdrawCase=link("DELETE", "/v1/cases/{case_number}", "Withdraw the case, with the PIN of this answer.",
                      parameters={**_THE_CASE, "header.x-case-pin": "$response.body#/pin"}),
    UnlockCase=link("POST", "/v1/hotline/cases/{case_number}/unlock",
                    "Hotline staff lift the case's PIN lock (its victim was locked out).", parameters=_THE_CASE),
    MatchFirstHash=link("POST", "/v1/match", "A platform's upload check of the first item's first hash.",
                        request_body={"queries": [{"signal": "$request.body#/items/0/hashes/0/signal",
                                                   "hash": "$request.body#/items/0/hashes/0/hash"}]}),
)


@router.post("", status_code=201, response_model=CaseCreated,
             responses={**OPENED, **errors(*BODY_ERRORS, "case_nothing_usable", "case_too_many_items")})
def submit_case(
    body: CaseCreate, session: DbSession, settings: Settings = Depends(get_settings)
) -> CaseCreated:
    """Open a case from hash groups, file digests and videos' frame hashes. No account, no name, no IP kept.

    Items are checked one by one: unusable ones are refused with a reason and
    the rest accepted. The PIN in the answer is shown once and stored hashed.
    """
    if len(body.items) > settings.max_case_items:
        raise ApiError(422, "case_too_many_items", f"A case holds at most {settings.max_case_items} items.")
    items = [
        bank_cases.ItemIn(
            kind=item.kind,
            hashes=[bank_cases.HashIn(h.signal, h.hash, h.quality, h.variant, h.structure) for h in item.hashes],
            frames=None if item.vpdq is None else [
                videos.FrameIn(f.pdq, f.quality, f.frame, f.time) for f in item.vpdq.frames
            ],
        )
        for item in body.items
    ]
    submission = bank_cases.create_case(session, settings, items)
    results = [
        ItemResult(label=body.items[o.index].label, **{k: v for k, v in o.__dict__.items()})
        for o in submission.outcomes
    ]
    if submission.case is None:
        raise ApiError(
            422,
            "case_nothing_usable",
            "None of the items can be used for matching; nothing was stored.",
            details=[r.model_dump() for r in results],
        )
    return CaseCreated(
        case_number=submission.case.number, pin=submission.pin, status=submission.case.status, items=results
    )


@router.get("/{case_number}", response_model=CaseStatusOut, responses=errors(*CASE_PIN_ERRORS, "request_invalid"))
def case_status(session: DbSession, case: Case = Depends(open_case)) -> CaseStatusOut:
    """The case's state and, per item, how often it matched and how many copies were removed."""
    case = session.get(Case, case.id)
    items = bank_cases.case_status(session, case)
    return CaseStatusOut(
        case_number=case.number,
        status=case.status,
        created_at=as_utc(case.created_at),
        withdrawn_at=as_utc(case.withdrawn_at),
        matches=sum(i.matches for i in items),
        confirmed_removals=sum(i.confirmed_removals for i in items),
        items=[ItemStatusOut(**i.__dict__) for i in items],
    )


@router.delete("/{case_number}", response_model=CaseWithdrawn, responses=errors(*CASE_PIN_ERRORS, "request_invalid"))
def withdraw_case(session: DbSession, case: Case = Depends(open_case)) -> CaseWithdrawn:
    """Withdraw the case: its hashes stop matching everywhere within seconds."""
    case = session.get(Case, case.id)
    count = bank_cases.withdraw_case(session, case)
    return CaseWithdrawn(case_number=case.number, status=case.status, hashes_withdrawn=count)
