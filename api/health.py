from fastapi import APIRouter, Response
from pydantic import BaseModel

from services import database

router = APIRouter(tags=['health'])
PING_TIMEOUT_S = 2.0  # a load balancer's check should hear "unavailable", not time out itself


class Health(BaseModel):
    status: str  # 'ok' or 'unavailable'
    detail: str | None = None  # why it is unavailable


@router.get('/health', response_model_exclude_none=True,
            responses={503: {'model': Health, 'description': 'the database is unreachable'}})
async def health(response: Response) -> Health:
    """Public: whether the server answers and reaches its database."""
    try:
        await database.ping(PING_TIMEOUT_S)
    except TimeoutError:
        reason = f'no answer within {PING_TIMEOUT_S:g} s'
    except Exception as error:  # whatever the driver raises: this answer exists to say the database is broken
        reason = str(error) or type(error).__name__
    else:
        return Health(status='ok')
    response.status_code = 503
    return Health(status='unavailable', detail=f'the database is unreachable: {reason}')
