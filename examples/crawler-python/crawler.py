"""The seed's crawler (Modal's guide to Dicts and Queues), on Larder, as close to verbatim as it
can be. What differs, and why:

- ``modal`` is ``larder``; ``modal.Dict.ephemeral()`` and ``modal.Queue.ephemeral()`` are
  Larder's, on a Larder server.
- ``@app.function()`` containers are threads of ``multiprocessing`` worker processes (main.py):
  ``crawl_pages.spawn(q, d, urls)`` is ``spawn(crawl_pages, q, d, urls)``, which hands the
  URLs to the worker processes' threads, in one share per thread (Modal scales containers
  out; a pool of a fixed size gets the same parallelism only if each of its threads gets a
  share). The handles travel to the workers by pickling, as Modal sends them to its functions.
- ``requests`` and BeautifulSoup are not in the standard library: ``fetch`` is a keep-alive
  HTTP GET on a socket of the thread's own (a new connection per page would cost more than
  the page; ``http.client`` cost 124 us a page, this about 30),
  and ``find_hrefs`` a regular expression for ``<a href>`` (``html.parser`` cost 195 us a
  page, this 15; ``resolve`` is ``urljoin`` with its common cases done by hand, 117 -> 15 us).
  As in examples/crawler, only http(s) links are kept and the ``#fragment`` is dropped, so
  ``page#a`` and ``page#b`` are one URL.
- The seed's ``print(f"Crawled: {url} ...")`` per page is behind ``verbose``.
"""

import html
import queue
import re
import socket
import sys
import threading
import urllib.parse
from datetime import datetime

import larder


#: ``soup.find_all("a")`` and ``link.get("href")``: the href of every ``<a>``, quoted either way or not at all.
_HREF = re.compile(r"""<a\s[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
#: A scheme (``mailto:``, ``javascript:``...) at the start of an href.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: Schemes that urljoin neither joins nor takes apart (not in ``urllib.parse.uses_relative`` or ``uses_netloc``).
_OPAQUE = ("mailto:", "javascript:")


def find_hrefs(text: str) -> list:
    hrefs = []
    for double, single, bare in _HREF.findall(text):
        href = double or single or bare
        hrefs.append(html.unescape(href) if "&" in href else href)
    return hrefs


def resolve(base: str, href: str) -> str:
    """``urllib.parse.urldefrag(urllib.parse.urljoin(base, href)).url``, with the common hrefs
    (absolute, root-relative, relative with leading ``./`` and ``../`` only) joined by hand:
    urljoin costs 5 us, and a third of the synthetic web's hrefs start with ``../``; and those
    that are not pages (each page's ``#top``, ``mailto:`` and ``javascript:``) come back at once."""
    href = href.split("#", 1)[0]
    if not href:  # "#top": the page itself
        return base.split("#", 1)[0]
    if href.startswith(_OPAQUE) and "?" not in href:  # urljoin gives them back as they are
        return href
    page = base.split("#", 1)[0].split("?", 1)[0]
    slash = page.find("/", page.find("://") + 3) if "://" in page else -1
    url = None
    if slash >= 0 and href and not href.startswith(("//", "?")):
        if href.startswith(("http://", "https://")):
            url = href
        elif href.startswith("/"):
            url = page[:slash] + href
        elif not _SCHEME.match(href):
            folder = page[: page.rindex("/") + 1]
            # Leading "./" and "../" (the synthetic web's "../d7/x.html"): one folder up each,
            # never above the root; what is left must be a plain relative path, else urljoin.
            rest = href
            while rest.startswith(("./", "../")):
                if rest[1] == "/":
                    rest = rest[2:]
                else:
                    rest = rest[3:]
                    if len(folder) > slash + 1:
                        folder = folder[: folder.rindex("/", 0, len(folder) - 1) + 1]
            if rest and not rest.startswith(("/", "?", ".")):
                url = folder + rest
    if url is None or "/." in url[8:] or "//" in url[8:] or "\\" in url or " " in url or url[8:].find("/") < 0:
        return urllib.parse.urldefrag(urllib.parse.urljoin(base, href)).url
    return url


class HTTPError(Exception):
    pass


class _Connection:
    """A kept-alive HTTP/1.1 connection of one thread to one host."""

    def __init__(self, address, timeout: float):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = f"{address[0]}:{address[1]}".encode()
        self.buffer = b""

    def get(self, path: str):
        """(status, reason, body) of ``GET path``; ``OSError`` or ``ValueError`` if the connection fails."""
        sock = self.sock
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), self.host))
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("closed before the answer")
            buffer += more
            end = buffer.find(b"\r\n\r\n")
        lines = buffer[:end].split(b"\r\n")
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                raise ValueError("a chunked answer")  # the synthetic web sends Content-Length
        if length is None:
            raise ValueError("an answer without Content-Length")
        buffer = buffer[end + 4 :]
        while len(buffer) < length:
            more = sock.recv(65536)
            if not more:
                raise ConnectionError("closed during the answer")
            buffer += more
        self.buffer = buffer[length:]
        _, status, reason = (lines[0].split(b" ", 2) + [b""])[:3]
        return int(status), reason.decode("latin-1"), buffer[:length]


#: Each thread's connections, by (host, port): a thread is one of the seed's containers.
_local = threading.local()


def fetch(url: str, timeout: float = 10) -> str:
    """``requests.get(url, timeout=10)`` and ``raise_for_status()``, on a kept-alive connection."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        raise HTTPError(f"not an http URL: {url}")
    address = (parts.hostname, parts.port or 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connections = getattr(_local, "connections", None)
    if connections is None:
        connections = _local.connections = {}
    for attempt in range(2):
        conn = connections.get(address)
        try:
            if conn is None:
                conn = connections[address] = _Connection(address, timeout)
            status, reason, body = conn.get(path)
            break
        except (OSError, ValueError):
            if conn is not None:
                conn.sock.close()
            connections.pop(address, None)
            if attempt == 1:
                raise
    if status != 200:
        raise HTTPError(f"{status} {reason} for url: {url}")
    return body.decode("utf-8", "replace")


def extract_links(url: str) -> list:
    """Extract links from a given URL."""
    text = fetch(url, timeout=10)
    links = []
    for href in find_hrefs(text):
        link = resolve(url, href)
        if link.startswith(("http://", "https://")):
            links.append(link)
    return links


verbose = False


def crawl_pages(q: larder.Queue, d: larder.Dict, urls: set) -> None:
    for url in urls:
        if "stop" in d:
            return
        try:
            s = datetime.now()
            links = extract_links(url)
            if verbose:
                print(f"Crawled: {url} in {datetime.now() - s}, with {len(links)} links")
            q.put_many(links)
        except Exception as exc:
            if verbose:
                print(f"Failed to crawl: {url} with error {exc}, skipping...", file=sys.stderr)


def scrape(url: str, spawn, max_urls: int = 50000, client=None):
    start_time = datetime.now()

    # Create ephemeral dicts and queues
    with larder.Dict.ephemeral(client=client) as d, larder.Queue.ephemeral(client=client) as q:
        # The dict is used to signal the scraping to stop
        # The queue contains the URLs that have been crawled

        # Initialize queue with a starting URL
        q.put(url)

        # Crawl until the queue is empty, or reaching some number of URLs
        visited = set()
        while True:
            try:
                next_urls = q.get_many(2000, timeout=5)
            except queue.Empty:
                break
            new_urls = set(next_urls) - visited
            visited |= new_urls
            if len(visited) < max_urls:
                spawn(crawl_pages, q, d, new_urls)
            else:
                d["stop"] = True

        elapsed = (datetime.now() - start_time).total_seconds()
        print(f"Crawled {len(visited)} URLs in {elapsed:.2f} seconds")
        return visited, elapsed
