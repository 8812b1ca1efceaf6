"""Who an MLflow client is: `MLFLOW_TRACKING_TOKEN` (Bearer: an API key, a login token, or a launched run's token,
which reaches that run alone) or `MLFLOW_TRACKING_USERNAME`/`_PASSWORD` (Basic: email and password, throttled as
signing in is)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from models import Run, User
from services import auth, runs
from services.errors import Unauthorized
from services.mlflow_tracking import Caller

BASIC_REMEMBERED_S = 60.0  # a client sends its password with every call; argon2 once a minute, not per call


class BasicSignIns:
    """Email and password pairs checked lately, by a digest of the pair; a pair stays good only while the user's
    password hash is the one it was checked against (a changed password ends it at once)."""

    def __init__(self) -> None:
        self.checked: dict[str, tuple[int, str, float]] = {}  # digest -> (user id, password hash, until)

    async def user(self, email: str, password: str, address: str) -> User:
        digest = hashlib.sha256(f'{auth.normalize_email(email)}\0{password}'.encode()).hexdigest()
        now = time.monotonic()
        if (known := self.checked.get(digest)) and known[2] > now:
            user = await User.get_or_none(id=known[0], is_active=True)
            if user is not None and hmac.compare_digest(user.password_hash, known[1]):
                return user
        user = await auth.authenticate(email, password, address=address)
        if len(self.checked) > 10_000:
            self.checked = {key: value for key, value in self.checked.items() if value[2] > now}
        self.checked[digest] = (user.id, user.password_hash, now + BASIC_REMEMBERED_S)
        return user


basic_sign_ins = BasicSignIns()


async def caller_for(authorization: str, address: str) -> Caller:
    scheme, _, credentials = authorization.partition(' ')
    credentials = credentials.strip()
    if scheme.lower() == 'bearer' and credentials:
        if credentials.startswith(runs.RUN_TOKEN_PREFIX):
            run = await Run.get_or_none(token_hash=auth.hash_token(credentials))
            if run is not None:
                return Caller(user=None, run_id=run.id)
        elif (key := await auth.key_for_token(credentials)) is not None:
            return Caller(user=key.user)
        raise Unauthorized('That token is unknown, revoked or expired.')
    if scheme.lower() == 'basic' and credentials:
        try:
            email, _, password = base64.b64decode(credentials, validate=True).decode().partition(':')
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized('The Basic credentials are not base64 of "email:password".') from None
        return Caller(user=await basic_sign_ins.user(email, password, address))
    raise Unauthorized('Sign in first: set MLFLOW_TRACKING_TOKEN to a Trainboard API key (or '
                       'MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to your email and password).')
