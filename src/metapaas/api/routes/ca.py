"""The certificate authority's certificate: public, so anyone can verify what they reach."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from metapaas.api.deps import AppState, app_state

router = APIRouter(tags=["tls"])

PEM_TYPE = "application/x-pem-file"


@router.get(
    "/v1/ca.pem",
    summary="The CA certificate that signs the API's and every node's certificate (PEM)",
    response_class=Response,
    responses={200: {"content": {PEM_TYPE: {"schema": {"type": "string"}}}}},
)
async def ca_certificate(state: Annotated[AppState, Depends(app_state)]) -> Response:
    authority = await run_in_threadpool(state.authority)
    return Response(
        authority.certificate_pem,
        media_type=PEM_TYPE,
        headers={"X-Certificate-Fingerprint": authority.fingerprint},
    )
