"""The web interface: server-rendered pages (Dutch by default) whose scripts read and change data via the JSON API."""

import hashlib
import logging
import re
import secrets
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session, col, select

from models import Category, Channel, Department, Outcome, Role, Ticket, User
from service import audit, auth, i18n
from service.access import visible_department_ids
from service.deps import NowDep, SessionDep, SettingsDep
from service.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
HOME = "/queue"
STAFF = (Role.agent, Role.manager, Role.admin)
MANAGERS = (Role.manager, Role.admin)
# The promise the dashboard measures against: this share of first responses within their target.
ON_TIME_GOAL = 0.90
DASHBOARD_PERIODS = ("today", "7d", "30d", "custom")
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
# Pages carry personal data and a CSRF token: never cached, never framed, scripts only from here.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


# Rendering ----------------------------------------------------------------------------------------


@lru_cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(), undefined=StrictUndefined
    )


@lru_cache
def asset_version() -> str:
    """A fingerprint of the static files, appended to their URLs so a new release is never served stale."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:10]


def _language(request: Request) -> str:
    return i18n.choose_language(request.query_params.get("lang"), request.cookies.get(i18n.LANGUAGE_COOKIE))


def render(
    request: Request, template: str, *, status_code: int = 200, logged_in: auth.LoggedIn | None = None, **context
) -> HTMLResponse:
    """A page in the visitor's language; `?lang=` also remembers the choice in a cookie."""
    language = _language(request)
    html = (
        _environment()
        .get_template(template)
        .render(
            lang=language,
            t=i18n.translator(language),
            strings=i18n.STRINGS[language],
            user=logged_in.user if logged_in else None,
            csrf_token=logged_in.session.csrf_token if logged_in else "",
            asset_version=asset_version(),
            path=request.url.path,
            query=dict(request.query_params),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            language,
            max_age=LANGUAGE_COOKIE_SECONDS,
            path="/",
            samesite="lax",
            secure=_over_https(request),
        )
    return response


# Sessions -----------------------------------------------------------------------------------------


def _over_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only, never another host (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    if any(ord(character) < 32 or ord(character) == 127 for character in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return HOME
    return target


def _login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(here, safe="")


def _logged_in(request: Request, session: Session, now) -> auth.LoggedIn | None:
    token = request.cookies.get(auth.SESSION_COOKIE)
    return auth.user_for_session(session, token, now=now) if token else None


def current_visitor(request: Request, session: SessionDep, now: NowDep) -> auth.LoggedIn:
    """The logged-in person, or a redirect to the log-in page that brings them back here afterwards."""
    logged_in = _logged_in(request, session, now)
    if logged_in is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": _login_url(request)})
    return logged_in


VisitorDep = Annotated[auth.LoggedIn, Depends(current_visitor)]


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        max_age=auth.SESSION_HOURS * 3600,
        path="/",
        secure=_over_https(request),
        httponly=True,
        samesite="lax",
    )


def _visible_departments(session: Session, visitor: auth.LoggedIn) -> list[Department]:
    allowed = visible_department_ids(session, visitor.user)
    query = select(Department).order_by(col(Department.id))
    if allowed is not None:
        query = query.where(col(Department.id).in_(allowed))
    return list(session.exec(query).all())


def _error_page(request: Request, visitor: auth.LoggedIn, status_code: int, title: str, text: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status_code, logged_in=visitor, title_key=title, text_key=text)


# Pages --------------------------------------------------------------------------------------------


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=status.HTTP_303_SEE_OTHER)


# Log-in CSRF: the form's hidden field must match this cookie (double submit). A forged cross-site form can
# neither read the cookie nor, with SameSite=Strict, even send it.
LOGIN_CSRF_COOKIE = "webcare_login_csrf"
_LOGIN_CSRF_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def _same_origin(request: Request, settings: Settings) -> bool:
    """Origin (or else Referer) names this site; a request with neither relies on the CSRF token alone."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    parts = urlsplit(claimed)
    if parts.netloc and parts.netloc == request.headers.get("host"):
        return True
    return f"{parts.scheme}://{parts.netloc}" in settings.trusted_origins


def _login_form(
    request: Request, settings: Settings, *, status_code: int = 200, next_page: str, notice, failed: bool, username
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not _LOGIN_CSRF_SHAPE.fullmatch(token):
        token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        next_page=next_page,
        notice=notice,
        failed=failed,
        username=username,
        login_csrf=token,
        max_failures=settings.login_max_failures,
        lockout_minutes=f"{settings.login_lockout_minutes:g}",
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=auth.SESSION_HOURS * 3600,
        path="/login",
        secure=_over_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
def login_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    next_page: Annotated[str | None, Query(alias="next")] = None,
    logged_out: bool = False,
) -> Response:
    if _logged_in(request, session, now) is not None:
        return RedirectResponse(safe_next(next_page), status_code=status.HTTP_303_SEE_OTHER)
    notice = "login.logged_out" if logged_out else ("login.needed" if next_page else None)
    return _login_form(request, settings, next_page=safe_next(next_page), notice=notice, failed=False, username="")


@router.post("/login")
def log_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_page: Annotated[str, Form(alias="next")] = HOME,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (_same_origin(request, settings) and cookie and csrf_token and auth.same_secret(csrf_token, cookie)):
        log.warning("web log-in refused: cross-site or without a valid CSRF token")
        # A fresh form (and cookie) so that a person whose page had gone stale can simply try again.
        return _login_form(
            request,
            settings,
            status_code=status.HTTP_403_FORBIDDEN,
            next_page=safe_next(next_page),
            notice="error.csrf.text",
            failed=False,
            username="",
        )
    result = (
        auth.log_in(
            session,
            username.strip(),
            password,
            now=now,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )
        if username and password
        else None
    )
    if result is None:
        log.info("failed web log-in for %r", username[:80])
        audit.record(
            session,
            user=username.strip()[:80] or "-",
            action="login_failed",
            object_type="session",
            ip=audit.client_ip(request),
            at=now,
        )
        # One message whether the user does not exist, mistyped or is locked out; it states the lock-out rule.
        return _login_form(
            request,
            settings,
            status_code=status.HTTP_401_UNAUTHORIZED,
            next_page=safe_next(next_page),
            notice=None,
            failed=True,
            username=username,
        )
    previous = request.cookies.get(auth.SESSION_COOKIE)
    if previous:
        auth.log_out(session, previous)
    token, web_session = result
    audit.record(
        session,
        user=session.get(User, web_session.user_id),
        action="login",
        object_type="session",
        ip=audit.client_ip(request),
        at=now,
    )
    response = RedirectResponse(safe_next(next_page), status_code=status.HTTP_303_SEE_OTHER)
    _set_session_cookie(request, response, token)
    return response


@router.post("/logout")
def log_out(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    logged_in = _logged_in(request, session, now)
    if logged_in is not None and not (
        _same_origin(request, settings) and auth.same_secret(csrf_token, logged_in.session.csrf_token)
    ):
        return _error_page(request, logged_in, status.HTTP_403_FORBIDDEN, "error.forbidden.title", "error.csrf.text")
    if logged_in is not None:
        auth.log_out(session, request.cookies[auth.SESSION_COOKIE])
        audit.record(
            session, user=logged_in.user, action="logout", object_type="session", ip=audit.client_ip(request), at=now
        )
    response = RedirectResponse("/login?logged_out=true", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(auth.SESSION_COOKIE, path="/", secure=_over_https(request), httponly=True, samesite="lax")
    return response


@router.get("/queue")
def queue_page(
    request: Request, visitor: VisitorDep, session: SessionDep, department: str | None = None
) -> HTMLResponse:
    if visitor.user.role not in STAFF:
        return _error_page(request, visitor, 403, "error.forbidden.title", "error.no_staff.text")
    departments = _visible_departments(session, visitor)
    chosen = next((d for d in departments if d.slug == department), departments[0] if departments else None)
    return render(request, "queue.html", logged_in=visitor, departments=departments, department=chosen)


@router.get("/tickets/{ticket_id}")
def ticket_page(request: Request, ticket_id: int, visitor: VisitorDep, session: SessionDep) -> HTMLResponse:
    if visitor.user.role not in STAFF:
        return _error_page(request, visitor, 403, "error.forbidden.title", "error.no_staff.text")
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return _error_page(request, visitor, 404, "error.not_found.title", "error.not_found.text")
    allowed = visible_department_ids(session, visitor.user)
    if allowed is not None and ticket.department_id not in allowed:
        return _error_page(request, visitor, 403, "error.forbidden.title", "error.forbidden.text")
    departments = list(session.exec(select(Department).order_by(col(Department.id))).all())
    return render(
        request,
        "ticket.html",
        logged_in=visitor,
        ticket_id=ticket.id,
        author=ticket.author_name or ticket.author_handle,
        department_slug=next(d.slug for d in departments if d.id == ticket.department_id),
        departments=departments,
        department_names={d.slug: d.name for d in departments},
        categories=list(Category),
        outcomes=list(Outcome),
    )


def _day(value: str | None) -> str:
    """A calendar day from the query (YYYY-MM-DD), or "" if it is missing or not a date."""
    try:
        return date.fromisoformat(value).isoformat() if value else ""
    except ValueError:
        return ""


@router.get("/dashboard")
def dashboard_page(request: Request, visitor: VisitorDep, session: SessionDep) -> HTMLResponse:
    """The managers' dashboard: a shell with the filters from the URL; its script reads the reports API."""
    if visitor.user.role not in MANAGERS:
        return _error_page(request, visitor, 403, "error.forbidden.title", "error.no_manager.text")
    departments = _visible_departments(session, visitor)
    asked = request.query_params
    slugs = {d.slug for d in departments}
    filters = {
        "period": asked.get("period") if asked.get("period") in DASHBOARD_PERIODS else "7d",
        "from": _day(asked.get("from")),
        "to": _day(asked.get("to")),
        "department": asked.get("department") if asked.get("department") in slugs else "",
        "category": asked.get("category") if asked.get("category") in set(Category) else "",
        "channel": asked.get("channel") if asked.get("channel") in set(Channel) else "",
        "clock": "calendar" if asked.get("clock") == "calendar" else "business",
        "trend": "week" if asked.get("trend") == "week" else "day",
    }
    return render(
        request,
        "dashboard.html",
        logged_in=visitor,
        departments=departments,
        categories=list(Category),
        channels=list(Channel),
        periods=DASHBOARD_PERIODS,
        filters=filters,
        on_time_goal=ON_TIME_GOAL,
    )
