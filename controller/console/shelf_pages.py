"""Relabelling an aisle or a shelf, with a confirm step that shows how many labels it takes.

The wall links each aisle and shelf here (`/relabel?location=Reyon 1`). The page counts the labels
first (`StaffOperations.relabel_count`: exactly that aisle, or aisle / shelf, never a prefix);
the staff user confirms that count, and the form sends it back: if the count changed meanwhile
(labels linked or moved), nothing is done and the page asks again with the new count.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from controller.api.deps import ControllerDep
from controller.console.session import StaffUser, User
from controller.console.templating import render
from controller.operations import OperationRefused, RelabelTarget

router = APIRouter()

Location = Annotated[str, Query(min_length=1, max_length=120)]


async def _confirm_page(
    request: Request,
    controller: ControllerDep,
    user: User,
    location: str,
    *,
    done: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        count = await controller.operations.relabel_count(RelabelTarget(location=location))
    except OperationRefused as exc:
        count, error, status_code = 0, str(exc), status.HTTP_422_UNPROCESSABLE_CONTENT
    return render(
        request,
        "relabel.html",
        user,
        status_code=status_code,
        location=location,
        count=count,
        done=done,
        error=error,
    )


@router.get("/relabel")
async def confirm_relabel(
    request: Request,
    controller: ControllerDep,
    user: User,
    location: Location,
    relabelled: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
) -> Response:
    done = None if relabelled is None else f"Relabel queued for {relabelled} labels."
    return await _confirm_page(request, controller, user, location, done=done)


@router.post("/relabel")
async def relabel_location(
    request: Request,
    controller: ControllerDep,
    user: StaffUser,
    location: Annotated[str, Form(min_length=1, max_length=120)],
    expected: Annotated[int, Form(ge=0, le=1_000_000_000)],
) -> Response:
    target = RelabelTarget(location=location)
    try:
        if await controller.operations.relabel_count(target) != expected:
            return await _confirm_page(
                request,
                controller,
                user,
                location,
                error="The number of labels here changed since the page was shown: check it"
                " and confirm again.",
                status_code=status.HTTP_409_CONFLICT,
            )
        count = await controller.operations.relabel(target, actor=user.name)
    except OperationRefused as exc:
        return await _confirm_page(
            request,
            controller,
            user,
            location,
            error=str(exc),
            status_code=status.HTTP_409_CONFLICT,
        )
    query = urlencode({"location": location, "relabelled": count})
    return RedirectResponse(f"/relabel?{query}", status_code=status.HTTP_303_SEE_OTHER)
