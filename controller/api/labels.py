"""Labels: link to an item (by SKU or the product's scanned GTIN), unlink, relabel, locate,
switch page, fast-wake, and what a label should show against what it reports.

Every write needs the staff role and is done by `StaffOperations`, which writes the audit log
with the token's name as actor. Refusals (`OperationRefused`) become 409 with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.api.deps import ControllerDep, Staff, Viewer
from controller.api.devices import DeviceView
from controller.api.item_lookup import resolve_item
from controller.operations import NotFound, RelabelTarget
from controller.state.devices_repo import Binding, binding_of, device
from controller.state.labels_repo import label_state
from firmware_protocol.messages import CommandResult

router = APIRouter(tags=["labels"])

Page = Annotated[int, Field(ge=1, le=7, description="the template page the label shows")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinkBody(_Body):
    item: Annotated[
        str, Field(min_length=1, max_length=64, description="a SKU, or the GTIN on the product")
    ]
    template: str | None = None
    page: Page = 1
    location: Annotated[str, Field(min_length=1, max_length=120)] | None = None


class PageBody(_Body):
    page: Page


class LocateBody(_Body):
    seconds: Annotated[int, Field(ge=1, le=600)] = 30


class FastWakeBody(_Body):
    seconds: Annotated[int, Field(ge=1, le=3600)] = 300
    interval_ms: Annotated[int, Field(ge=100, le=60_000)] = 1000


Location = Annotated[
    str,
    Field(
        min_length=1,
        max_length=120,
        description="an aisle ('Reyon 1': every shelf of aisle 1, not aisle 10) or an aisle /"
        " shelf ('Reyon 1 / Raf 2'), matched part by part, case and spacing ignored",
    ),
]


class RelabelBody(_Body):
    """Exactly one of: an item's labels, an aisle or aisle / shelf, the whole store."""

    sku: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    location: Location | None = None
    whole_store: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> RelabelBody:
        chosen = [self.sku is not None, self.location is not None, self.whole_store]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of sku, location, whole_store: true")
        return self


class BindingView(BaseModel):
    device_id: str
    sku: str
    template: str | None
    page: int
    linked_at: datetime
    linked_by: str

    @classmethod
    def of(cls, binding: Binding) -> BindingView:
        return cls(
            device_id=binding.device_id,
            sku=binding.sku,
            template=binding.template,
            page=binding.page,
            linked_at=binding.linked_at,
            linked_by=binding.linked_by,
        )


class Relabelled(BaseModel):
    labels: int


class CommandAnswer(BaseModel):
    status: str  # the device's result ("ok", "refused", ...), or "queued"
    detail: str


class ImageState(BaseModel):
    desired_revision: int
    desired_hash: str | None  # hex
    desired_at: datetime | None
    reported_revision: int
    reported_hash: str | None
    reported_at: datetime | None
    confirmed: bool


class LabelView(BaseModel):
    device: DeviceView
    binding: BindingView | None
    image: ImageState | None


def _answer(result: CommandResult | None, response: Response) -> CommandAnswer:
    if result is None:
        response.status_code = status.HTTP_202_ACCEPTED
        return CommandAnswer(
            status="queued", detail="queued, the label is asleep: it runs at its next check-in"
        )
    return CommandAnswer(status=result.status.name.lower(), detail=result.detail)


@router.post("/labels/{device_id}/link", summary="Link a label to an item (staff)")
async def link(
    device_id: str, body: LinkBody, controller: ControllerDep, token: Staff
) -> BindingView:
    item = await resolve_item(controller.conn, body.item)
    if item is None:
        raise NotFound(f"no item with SKU or GTIN {body.item!r} in the catalog")
    binding = await controller.operations.link(
        device_id,
        item.sku,
        actor=token.name,
        template=body.template,
        page=body.page,
        location=body.location,
    )
    return BindingView.of(binding)


@router.delete(
    "/labels/{device_id}/link",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unlink a label (staff)",
)
async def unlink(device_id: str, controller: ControllerDep, token: Staff) -> None:
    await controller.operations.unlink(device_id, actor=token.name)


@router.post("/labels/{device_id}/relabel", summary="Render and push a label again (staff)")
async def relabel_one(device_id: str, controller: ControllerDep, token: Staff) -> Relabelled:
    count = await controller.operations.relabel(
        RelabelTarget(device_ids=(device_id,)), actor=token.name
    )
    return Relabelled(labels=count)


@router.post("/relabel", summary="Relabel an item's labels, a shelf or the store (staff)")
async def relabel_many(body: RelabelBody, controller: ControllerDep, token: Staff) -> Relabelled:
    target = RelabelTarget(sku=body.sku, location=body.location, whole_store=body.whole_store)
    return Relabelled(labels=await controller.operations.relabel(target, actor=token.name))


@router.get(
    "/relabel/count",
    summary="How many labels POST /relabel would take, before doing it (viewer)",
)
async def relabel_count(
    controller: ControllerDep,
    _: Viewer,
    sku: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    location: Annotated[str | None, Query(min_length=1, max_length=120)] = None,
    whole_store: bool = False,
) -> Relabelled:
    target = RelabelTarget(sku=sku, location=location, whole_store=whole_store)
    return Relabelled(labels=await controller.operations.relabel_count(target))


@router.post(
    "/labels/{device_id}/locate",
    summary="Flash the label's LED (staff)",
    responses={202: {"description": "queued, the label is asleep", "model": CommandAnswer}},
)
async def locate(
    device_id: str,
    controller: ControllerDep,
    token: Staff,
    response: Response,
    body: LocateBody | None = None,
) -> CommandAnswer:
    seconds = (body or LocateBody()).seconds
    result = await controller.operations.locate(device_id, actor=token.name, seconds=seconds)
    return _answer(result, response)


@router.post("/labels/{device_id}/page", summary="Show another template page (staff)")
async def switch_page(
    device_id: str, body: PageBody, controller: ControllerDep, token: Staff
) -> BindingView:
    binding = await controller.operations.switch_page(device_id, body.page, actor=token.name)
    return BindingView.of(binding)


@router.post(
    "/labels/{device_id}/fast-wake",
    summary="Make a label check in every interval for a while (staff)",
    responses={202: {"description": "queued, the label is asleep", "model": CommandAnswer}},
)
async def fast_wake(
    device_id: str,
    controller: ControllerDep,
    token: Staff,
    response: Response,
    body: FastWakeBody | None = None,
) -> CommandAnswer:
    wake = body or FastWakeBody()
    result = await controller.operations.fast_wake(
        device_id, actor=token.name, seconds=wake.seconds, interval_ms=wake.interval_ms
    )
    return _answer(result, response)


@router.get("/labels/{device_id}", summary="A label: item, image state, health (viewer)")
async def get_label(device_id: str, controller: ControllerDep, _: Viewer) -> LabelView:
    found = await device(controller.conn, device_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no label {device_id!r}")
    binding = await binding_of(controller.conn, device_id)
    state = await label_state(controller.conn, device_id)
    image = None
    if state is not None:
        image = ImageState(
            desired_revision=state.desired_revision,
            desired_hash=state.desired_hash.hex() if state.desired_hash else None,
            desired_at=state.desired_at,
            reported_revision=state.reported_revision,
            reported_hash=state.reported_hash.hex() if state.reported_hash else None,
            reported_at=state.reported_at,
            confirmed=state.confirmed,
        )
    return LabelView(
        device=DeviceView.of(found),
        binding=BindingView.of(binding) if binding else None,
        image=image,
    )
