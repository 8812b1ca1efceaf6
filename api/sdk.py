from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=['sdk'])
SDK = Path(__file__).resolve().parent.parent / 'sdk' / 'trainboard.py'


@router.get('/sdk/trainboard.py', include_in_schema=False)
async def sdk() -> FileResponse:
    """Public: the one-file SDK, so a GPU box can `curl -O` it from the server it reports to."""
    return FileResponse(SDK, media_type='text/x-python', filename='trainboard.py')
