"""A FastAPI app: GET / answers the commit it was built from, /items/{n} echoes a validated model."""
import os

import httpx
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    id: int
    double: int
    client: str


@app.get("/", response_class=PlainTextResponse)
def commit() -> str:
    return os.environ.get("PAAS_COMMIT_SHA", "unknown") + "\n"


@app.get("/healthz", response_class=PlainTextResponse)
def healthz() -> str:
    return "ok\n"


@app.get("/items/{item_id}")
def item(item_id: int) -> Item:
    # httpx is imported so the image must carry the whole locked tree, not only FastAPI's.
    return Item(id=item_id, double=item_id * 2, client=f"httpx/{httpx.__version__}")
