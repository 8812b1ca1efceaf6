"""The queries of the ingest path read the history through its index, whatever the database knows of the table.

A plan is made from what the database knows of a table's size. A new database knows it empty, and on PostgreSQL a
prepared statement (asyncpg prepares every one) keeps a plan until the next ANALYZE: the read of stored points,
planned while the table was small, hashed the ranges asked for and read the whole history at every report (30 ms a
report at 150,000 points, and growing). These tests ask for the plan a prepared statement keeps on an empty table.
"""

from __future__ import annotations

from tortoise import connections
from tortoise.transactions import in_transaction

from services import database, metric_store

RANGES = '[[1, "loss", 0, 999], [1, "accuracy", 5, 5]]'


async def test_the_read_of_stored_points_looks_each_range_up_in_the_index(orm: str) -> None:
    assert 'index' in (plan := await _plan_on_an_empty_table()).lower()
    assert 'Seq Scan on metrics' not in plan and 'SCAN m' not in plan, plan  # no read of the whole history


async def _plan_on_an_empty_table() -> str:
    conn = connections.get('default')
    if not database.is_postgres(conn):
        rows = await conn.execute_query_dict(f'EXPLAIN QUERY PLAN {metric_store.STORED_SQLITE}', [RANGES])
        return '\n'.join(row['detail'] for row in rows)
    async with in_transaction() as transaction:  # one connection: a prepared statement is the session's
        await transaction.execute_script('SET LOCAL plan_cache_mode = force_generic_plan')  # the plan it keeps
        await transaction.execute_script(f'PREPARE stored AS {metric_store.STORED_POSTGRES}')
        try:
            rows = await transaction.execute_query_dict(f"EXPLAIN EXECUTE stored('{RANGES}')")
        finally:
            await transaction.execute_script('DEALLOCATE stored')
    return '\n'.join(row['QUERY PLAN'] for row in rows)
