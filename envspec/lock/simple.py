"""Simple-repository pages (PEP 503 HTML, PEP 691 JSON) -> the files they list, with their hashes.

Pure parsing: bytes and a URL in, :class:`IndexFile` values out. Fetching is done elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html.parser
import json
from collections.abc import Mapping
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from envspec.errors import EnvspecError

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"


class IndexPageError(EnvspecError):
    """A project page that cannot be understood."""


@dataclasses.dataclass(frozen=True, slots=True)
class IndexFile:
    """One file listed on a project page of a simple repository."""

    filename: str
    url: str  # absolute, without the hash fragment
    hashes: Mapping[str, str] = dataclasses.field(default_factory=dict)  # algorithm -> lowercase hex
    requires_python: str | None = None
    size: int | None = None
    upload_time: str | None = None
    metadata: bool = False  # the index serves the core metadata at ``url + ".metadata"`` (PEP 658)
    metadata_hash: tuple[str, str] | None = None  # (algorithm, hex digest) of that metadata file
    yanked: bool = False

    @property
    def metadata_url(self) -> str:
        return self.url + ".metadata"

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")


class _AnchorParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._attrs: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "a":
            self._finish_anchor()
            self._attrs = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._finish_anchor()

    def close(self) -> None:
        super().close()
        self._finish_anchor()

    def _finish_anchor(self) -> None:
        if self._attrs is not None:
            self.anchors.append((self._attrs, "".join(self._text).strip()))
            self._attrs = None


def metadata_flag(value: object) -> tuple[bool, tuple[str, str] | None]:
    """Read a PEP 658/714 marker: an HTML attribute value or a PEP 691 JSON value."""
    if value is None or value is True:
        return True, None
    if isinstance(value, str):
        if value.strip().lower() == "false":
            return False, None
        algorithm, sep, digest = value.strip().partition("=")
        if sep and algorithm and digest:
            return True, (algorithm.lower(), digest.lower())
        return True, None
    if isinstance(value, Mapping):
        hashes = {str(k).lower(): str(v).lower() for k, v in value.items()}
        return True, pick_hash(hashes)
    return False, None


def pick_hash(hashes: Mapping[str, str]) -> tuple[str, str] | None:
    """The strongest usable hash: sha256 when present, else the first guaranteed algorithm by name."""
    if "sha256" in hashes:
        return "sha256", hashes["sha256"]
    usable = sorted(name for name in hashes if name in hashlib.algorithms_guaranteed)
    return (usable[0], hashes[usable[0]]) if usable else None


def _fragment_hashes(fragment: str) -> dict[str, str]:
    algorithm, sep, digest = fragment.partition("=")
    algorithm = algorithm.lower()
    if sep and digest and algorithm in hashlib.algorithms_guaranteed:
        return {algorithm: digest.lower()}
    return {}


def parse_simple_html(text: str, page_url: str) -> list[IndexFile]:
    """The files a PEP 503 project page lists (hrefs resolved against ``page_url`` or ``<base>``)."""
    parser = _AnchorParser()
    parser.feed(text)
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files: list[IndexFile] = []
    for attrs, anchor_text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        filename = anchor_text or unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        marker = "data-core-metadata" if "data-core-metadata" in attrs else "data-dist-info-metadata"
        metadata, metadata_hash = metadata_flag(attrs[marker]) if marker in attrs else (False, None)
        files.append(
            IndexFile(
                filename=filename,
                url=url,
                hashes=_fragment_hashes(fragment),
                requires_python=attrs.get("data-requires-python") or None,
                metadata=metadata,
                metadata_hash=metadata_hash,
                yanked="data-yanked" in attrs,
            )
        )
    return files


def parse_simple_json(data: object, page_url: str) -> list[IndexFile]:
    """The files a PEP 691 project page lists."""
    if not isinstance(data, Mapping) or not isinstance(data.get("files"), list):
        raise IndexPageError(f"{page_url}: the JSON page has no 'files' list")
    files: list[IndexFile] = []
    for entry in data["files"]:
        if not isinstance(entry, Mapping):
            raise IndexPageError(f"{page_url}: a 'files' entry is not an object")
        filename, url = entry.get("filename"), entry.get("url")
        if not isinstance(filename, str) or not isinstance(url, str):
            raise IndexPageError(f"{page_url}: a 'files' entry lacks 'filename' or 'url'")
        key = "core-metadata" if "core-metadata" in entry else "dist-info-metadata"
        metadata, metadata_hash = metadata_flag(entry[key]) if key in entry else (False, None)
        raw_hashes = entry.get("hashes")
        hashes = (
            {str(k).lower(): str(v).lower() for k, v in raw_hashes.items()}
            if isinstance(raw_hashes, Mapping)
            else {}
        )
        absolute, fragment = urldefrag(urljoin(page_url, url))
        if not hashes:
            hashes = _fragment_hashes(fragment)
        size = entry.get("size")
        upload = entry.get("upload-time")
        requires = entry.get("requires-python")
        files.append(
            IndexFile(
                filename=filename,
                url=absolute,
                hashes=hashes,
                requires_python=requires if isinstance(requires, str) and requires else None,
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                upload_time=upload if isinstance(upload, str) else None,
                metadata=metadata,
                metadata_hash=metadata_hash,
                yanked=bool(entry.get("yanked", False)),
            )
        )
    return files


def parse_index_page(body: bytes, content_type: str, page_url: str) -> list[IndexFile]:
    """Parse a project page as JSON or HTML, whichever its content type says it is."""
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type.startswith("application/vnd.pypi.simple.") and media_type.endswith("+json"):
        try:
            data: object = json.loads(body)
        except ValueError as exc:
            raise IndexPageError(f"{page_url}: invalid JSON ({exc})") from None
        return parse_simple_json(data, page_url)
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    return parse_simple_html(text, page_url)
