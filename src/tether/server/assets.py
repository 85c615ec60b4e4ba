"""The dashboard's own scripts and styles, served under content-hashed URLs.

A URL names the file's hash, so a browser may keep it forever
(``immutable``) and a new release is fetched at once. Nothing comes from a
CDN and nothing is built with Node: the files ship inside the package.
"""

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

STATIC = Path(__file__).parent.parent / "web" / "static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
FOREVER = "public, max-age=31536000, immutable"


class Assets:
    def __init__(self, root: Path = STATIC) -> None:
        self.files: dict[str, bytes] = {}
        self.hashes: dict[str, str] = {}
        for path in sorted(root.iterdir()):
            if path.suffix in TYPES:
                data = path.read_bytes()
                self.files[path.name] = data
                self.hashes[path.name] = hashlib.sha256(data).hexdigest()[:16]

    def url(self, name: str) -> str:
        return f"/static/{self.hashes[name]}/{name}"

    def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        data = self.files.get(name)
        if data is None:
            return Response("no such asset\n", status_code=404, media_type="text/plain")
        current = request.path_params["digest"] == self.hashes[name]
        headers = {
            "Cache-Control": FOREVER if current else "no-cache",
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{self.hashes[name]}"',
        }
        return Response(data, headers=headers, media_type=TYPES[Path(name).suffix])
