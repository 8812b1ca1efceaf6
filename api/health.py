from fastapi import APIRouter

router = APIRouter(tags=['health'])


@router.get('/health')
async def health() -> dict[str, str]:
    """Public: whether the server answers."""
    return {'status': 'ok'}
