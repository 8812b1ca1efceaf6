"""Used report signatures: each is spent once, in the report's own transaction, and forgotten once it has expired."""

import time

import pytest
from tortoise.transactions import in_transaction

from models import UsedSignature
from services import runs
from services.errors import Conflict


async def test_a_signature_is_spent_once_and_expired_ones_are_pruned(orm: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, '_prune_after', 0.0)  # as in a process that has not pruned yet
    await UsedSignature.create(signature_hash='e' * 64, expires_at=time.time() - 1)
    signature = runs.Signature(digest='s' * 64, expires_at=time.time() + runs.SIGNATURE_MAX_AGE_S)
    async with in_transaction() as conn:
        await runs.spend_signature(conn, signature)
    assert await UsedSignature.all().values_list('signature_hash', flat=True) == ['s' * 64]
    with pytest.raises(Conflict, match='accepted already'):
        async with in_transaction() as conn:
            await runs.spend_signature(conn, signature)
    assert await UsedSignature.all().count() == 1


async def test_pruning_keeps_what_the_freshness_check_would_still_accept(orm: str) -> None:
    now = time.time()
    await UsedSignature.bulk_create([UsedSignature(signature_hash='old' + 'x' * 61, expires_at=now - 10),
                                     UsedSignature(signature_hash='new' + 'x' * 61, expires_at=now + 290)])
    assert await runs.prune_signatures() == 1
    assert await UsedSignature.all().values_list('signature_hash', flat=True) == ['new' + 'x' * 61]
