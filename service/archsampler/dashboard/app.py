"""The dashboard: a read-only web page over the service's studies, behind the same auth.

`GET /` serves the page (static, no data); `GET /api/studies` and `GET /api/study?name=N`
serve the data as JSON and require `Authorization: Bearer <token>` of a principal whenever
the gRPC service requires one (fails closed: 401), with the same namespaces (a study of
another namespace is 403). Nothing here writes. The page refreshes itself.
"""

from __future__ import annotations

import json
import logging
import ssl
from importlib import resources
from typing import Any
from typing import Callable
from urllib.parse import parse_qs

from archsampler.dashboard import views
from archsampler.errors import ArchSamplerError
from archsampler.errors import InvalidArgumentError
from archsampler.errors import NotFoundError
from archsampler.errors import PermissionDeniedError
from archsampler.predictor.manager import ModelManager
from archsampler.server.access import AUTH_OFF
from archsampler.server.access import Principal
from archsampler.server.auth import PrincipalTable
from archsampler.server.auth import bearer_token
from archsampler.server.httpd import serve_wsgi
from archsampler.storage import SQLStorage
from archsampler.study import StudyService
from archsampler.study import check_name

log = logging.getLogger(__name__)
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'",
    ),  # fmt: skip
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
MAX_QUERY = 1024
Start = Callable[..., Any]


class Dashboard:
    """The dashboard's WSGI app over one server's `StudyService`."""

    def __init__(
        self,
        service: StudyService,
        storage: SQLStorage,
        models: ModelManager | None = None,
        principals: PrincipalTable | None = None,
    ) -> None:
        self.service = service
        self.models = models
        self.principals = principals
        self.cache = views.StudyCache(storage)
        self._static = {
            path: ((resources.files(__package__) / "static" / name).read_bytes(), kind)
            for path, (name, kind) in STATIC.items()
        }
        self._http: Any = None
        self.port = 0

    def _principal(self, environ: dict[str, Any]) -> Principal | None:
        if self.principals is None:
            return AUTH_OFF
        token = bearer_token([("authorization", environ.get("HTTP_AUTHORIZATION", ""))])
        return None if token is None else self.principals.lookup(token)

    def __call__(self, environ: dict[str, Any], start: Start) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _json(start, "405 Method Not Allowed", {"error": "the dashboard is read-only"})
        if path in self._static:
            body, kind = self._static[path]
            start("200 OK", [("Content-Type", kind), *SECURITY_HEADERS])
            return [body]
        if not path.startswith("/api/"):
            return _json(start, "404 Not Found", {"error": f"no page {path[:100]!r}"})
        principal = self._principal(environ)
        if principal is None:
            return _json(start, "401 Unauthorized", {"error": "a valid bearer token is needed"})
        try:
            body = self._api(path, environ.get("QUERY_STRING", ""), principal)
            return _json(start, "200 OK", body)
        except InvalidArgumentError as e:
            return _json(start, "400 Bad Request", {"error": str(e)})
        except PermissionDeniedError as e:
            return _json(start, "403 Forbidden", {"error": str(e)})
        except NotFoundError as e:
            return _json(start, "404 Not Found", {"error": str(e)})
        except ArchSamplerError as e:
            return _json(start, "503 Service Unavailable", {"error": str(e)})
        except Exception:  # noqa: BLE001 - logged; the page shows a short error
            log.exception("dashboard request %s failed", path)
            return _json(start, "500 Internal Server Error", {"error": "internal error"})

    def _api(self, path: str, query: str, principal: Principal) -> Any:
        if len(query) > MAX_QUERY:
            raise InvalidArgumentError(f"query string over {MAX_QUERY} characters")
        if path == "/api/studies":
            return {"studies": views.studies(self.service, principal)}
        if path == "/api/study":
            names = parse_qs(query).get("name", [])
            if len(names) != 1:
                raise InvalidArgumentError("give exactly one ?name=STUDY")
            name = check_name("study name", names[0])
            return views.study(self.service, self.models, self.cache, name, principal)
        raise NotFoundError(f"no API {path[:100]!r}")

    def serve(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Serve from a daemon thread (HTTPS with `tls`); returns the bound port."""
        self._http = serve_wsgi(self, host, port, "dashboard", tls)
        self.port = int(self._http.server_port)
        return self.port

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


def _json(start: Start, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    start(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
         *SECURITY_HEADERS],
    )  # fmt: skip
    return [data]
