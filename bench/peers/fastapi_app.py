"""FastAPI + SQLAlchemy 2 asyncio (psycopg 3 async driver): the stack Django
users leave for, written the way FastAPI's and SQLAlchemy's docs show it.

One ``AsyncSession`` per request through a dependency; the engine's pool has
``BENCH_POOL`` connections (``max_overflow=0``), opened at startup like the
other systems' pools; templates through ``Jinja2Templates``.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import String, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.db import ROWS
from bench.peers import POOL, pg_params

P2_WAIT = 0.05
P5_WAIT = 1.0
P6_QUERIES = 5

_p = pg_params()
engine = create_async_engine(
    f"postgresql+psycopg://{_p['user']}@{_p['host']}:{_p['port']}/{_p['dbname']}",
    pool_size=POOL,
    max_overflow=0,
    pool_timeout=30,
)
Session = async_sessionmaker(engine, expire_on_commit=False)
templates = Jinja2Templates(
    directory=os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
)


class Base(DeclarativeBase):
    pass


class Item(Base):
    """The same ``bench_item`` table the Django systems read."""

    __tablename__ = "bench_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[int]


async def _warm_pool() -> None:
    """Open every pool connection once, as the other systems do at start."""
    held = asyncio.Event()

    async def hold() -> None:
        async with engine.connect():
            await held.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(POOL)]
    await asyncio.sleep(0.5)
    held.set()
    await asyncio.gather(*tasks)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await _warm_pool()
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with Session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def _key() -> int:
    return random.randrange(ROWS - 20)


async def _waiting(session: AsyncSession, seconds: float) -> dict[str, Any]:
    """The indexed lookup, made to wait ``seconds`` in the database."""
    waited = literal_column(f"(SELECT 1 FROM pg_sleep({float(seconds)!r}))")
    stmt = (
        select(Item, waited.label("waited"))
        .where(Item.n == _key())
        .order_by(Item.id)
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return {}
    item = row[0]
    return {"id": item.id, "n": item.n, "name": item.name, "value": item.value}


@app.get("/health/", response_class=PlainTextResponse)
async def health() -> str:
    return "ok"


@app.get("/async/p2/")
async def p2(session: SessionDep) -> dict[str, Any]:
    return await _waiting(session, P2_WAIT)


@app.get("/async/p4/", response_class=HTMLResponse)
async def p4(request: Request, session: SessionDep) -> Any:
    stmt = select(Item).where(Item.n >= _key()).order_by(Item.n).limit(20)
    items = (await session.scalars(stmt)).all()
    return templates.TemplateResponse(
        request, "rows.html", {"title": "Items", "items": items}
    )


@app.get("/async/p5/")
async def p5(session: SessionDep) -> dict[str, Any]:
    return await _waiting(session, P5_WAIT)


@app.get("/async/p6/")
async def p6() -> dict[str, Any]:
    """Five independent queries at once: an AsyncSession must not be shared
    between tasks, so each gets its own session (and connection)."""

    async def one() -> dict[str, Any]:
        async with Session() as session:
            return await _waiting(session, P2_WAIT)

    return {"items": await asyncio.gather(*(one() for _ in range(P6_QUERIES)))}
