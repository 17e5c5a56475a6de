"""The web interface: server-rendered pages (Dutch by default) over the same services as the API."""

from pathlib import Path

from fastapi import APIRouter

STATIC_DIR = Path(__file__).resolve().parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

router = APIRouter(include_in_schema=False)
