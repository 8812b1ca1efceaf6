"""api/fast_lane.py builds the report lane once however often main.py runs in one process (each `user` test runs it
again): wrapped once per run, the builds doubled with every test, and a suite hung at its sixtieth page test."""

from fastapi import FastAPI

from api import fast_lane


def test_installing_again_builds_the_stack_and_its_lane_once() -> None:
    app = FastAPI()
    builds = []
    build = app.build_middleware_stack

    def counted():  # noqa: ANN202
        builds.append(1)
        return build()
    app.build_middleware_stack = counted  # type: ignore[method-assign]
    for _ in range(3):
        fast_lane.install(app)
    assert isinstance(app.build_middleware_stack(), fast_lane.FastLane)
    assert len(builds) == 2  # the whole stack and the lane, once each
