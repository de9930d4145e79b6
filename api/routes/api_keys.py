"""The practice's API keys: list, create (for a rotation: old and new both work) and revoke.
Revoking a key also ends every staff session it minted."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CurrentPractice, Deps
from api.errors import ApiError
from api.resources import error_responses
from api.schemas.api_keys import ApiKeyList, ApiKeyOut, NewApiKey
from payreq.practices import (
    ApiKeyInfo,
    LastKeyError,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


def _out(info: ApiKeyInfo) -> ApiKeyOut:
    return ApiKeyOut(
        id=info.id, prefix=info.prefix, created_at=info.created_at, revoked_at=info.revoked_at
    )


@router.get(
    "", response_model=ApiKeyList, responses=error_responses(401), summary="List the API keys"
)
async def get_api_keys(practice: CurrentPractice, deps: Deps) -> ApiKeyList:
    async with deps.pool.acquire() as conn:
        return ApiKeyList(data=[_out(k) for k in await list_api_keys(conn, practice.id)])


@router.post(
    "",
    status_code=201,
    response_model=NewApiKey,
    responses=error_responses(401),
    summary="Create another API key (rotation: both keys work until one is revoked)",
    description="The key is in this response only (only its hash is stored), so this call "
    "is not replayed from an `Idempotency-Key`: a retry makes another key; revoke the unused one.",
)
async def post_api_key(practice: CurrentPractice, deps: Deps, response: Response) -> NewApiKey:
    async with deps.pool.acquire() as conn:
        info, key = await create_api_key(conn, practice.id)
    response.headers["Cache-Control"] = "no-store"
    return NewApiKey(**_out(info).model_dump(), api_key=key)


@router.delete(
    "/{key_id}",
    response_model=ApiKeyOut,
    responses=error_responses(401, 404, 409),
    summary="Revoke an API key and end the staff sessions it created",
)
async def delete_api_key(key_id: str, practice: CurrentPractice, deps: Deps) -> ApiKeyOut:
    async with deps.pool.acquire() as conn:
        try:
            info = await revoke_api_key(conn, practice.id, key_id)
        except LastKeyError:
            raise ApiError(
                409, "last_api_key", "Create another key before revoking the last one."
            ) from None
    if info is None:
        raise ApiError(404, "not_found", "No such API key.")
    return _out(info)
