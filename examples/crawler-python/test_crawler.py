"""The Python crawler is correct when it visits exactly the URLs reachable from the start page,
fetches each one once, ends by itself and prints the seed's line; with a URL limit it stops
early, visits nothing unreachable and still fetches nothing twice. Real processes: the
synthetic web (node), a Larder server on a temporary folder, multiprocessing workers."""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import main  # noqa: E402


@pytest.fixture
def services():
    web = main.Web(2000, 7, reachable=True)
    server = main.LarderServer()
    yield web, server
    server.close()
    if web.process.poll() is None:
        web.close()


def test_visits_exactly_the_reachable_urls_once_and_ends_by_itself(services, capsys):
    web, server = services
    report = main.run(web.start_url, url=server.url, max_urls=1_000_000, workers=2)
    stats = web.close()
    expected = set(web.reachable)
    paths = {u[len(web.origin):] for u in report["visited"]}
    assert len(paths) == len(report["visited"])  # one URL per page: no aliases
    assert paths == expected
    assert stats == {"fetches": len(expected), "paths": len(expected), "refetched": 0}
    assert report["dispatched"] == len(expected)
    assert report["errors"] == [] and report["cpu"]["workers"] > 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(rf"Crawled {len(expected)} URLs in \d+\.\d\d seconds", line), line


def test_stops_at_max_urls_and_fetches_nothing_twice(services):
    web, server = services
    max_urls = 300
    report = main.run(web.start_url, url=server.url, max_urls=max_urls, workers=2)
    stats = web.close()
    # As in the seed: crawl work is handed out only while `visited` is under max_urls;
    # past it, the Queue is drained (those URLs count as visited) until it stays empty.
    assert report["dispatched"] < max_urls
    assert len(report["visited"]) >= max_urls
    expected = set(web.reachable)
    assert {u[len(web.origin):] for u in report["visited"]} <= expected
    assert stats["refetched"] == 0 and stats["fetches"] <= report["dispatched"]


def test_the_floor_crawls_the_same_web_on_its_stand_in():
    import floor

    web = main.Web(2000, 7, reachable=True)
    try:
        report = floor.run(web.start_url, max_urls=1_000_000, threads=16)
    finally:
        stats = web.close()
    expected = set(web.reachable)
    assert {u[len(web.origin):] for u in report["visited"]} == expected
    assert stats == {"fetches": len(expected), "paths": len(expected), "refetched": 0}
    assert report["errors"] == [] and report["cpu"] > 0
    assert floor.crawler.larder is main.larder  # the real client is back


HREFS = [
    "x.html", "./x.html", "a/b.html", "a//b.html", "../x.html", "a/../x.html", "./", "", "...", ".hidden",
    "/", "/x.html", "//other.test/x", "/a/./b", "/~u/x-y_z.html", "?q=1", "x.html?q=1", "#f", "x.html#f",
    "http://h.test/x.html", "http://h.test", "http://h.test:80/x", "HTTP://H.TEST/x", "http://h.test.evil/x",
    "https://h.test/x", "http://h.test/%41", "sp ace.html", "é.html", "a\\b.html", "ftp://h.test/x",
    "../../x.html", "../../../../x/y.html", "./../x.html", "..", "../", "../.", "../a/../b", ".././x", "x/",
    "mailto:x@y.z", "javascript:void(0)", "/q?x=1&y=2", "../d8/x.html?q=1", "../?q", "./.././x.html", "../.hidden", "../ /x",
]
BASES = ["http://h.test/d/p.html", "http://h.test/", "http://h.test/d/e/?q=1", "http://h.test/a%20b/p", "https://h.test/a/b/c/p", "http://h.test"]


def test_resolve_is_urljoin_without_the_fragment():
    import urllib.parse

    from crawler import resolve

    for base in BASES:
        for href in HREFS:
            assert resolve(base, href) == urllib.parse.urldefrag(urllib.parse.urljoin(base, href)).url, (base, href)


def test_find_hrefs_reads_every_attribute_style():
    from crawler import extract_links, find_hrefs

    page = (
        '<a href="a.html">x</a><A HREF=/b.html>y</A><a class=\'c\' href=\'../c.html#f\'>z</a>'
        '<abbr href="/no.html">n</abbr><a name="top"></a><a href="mailto:x@y.z">m</a>'
        '<a href="javascript:void(0)">j</a><a\nhref = "/q?x=1&amp;y=2">q</a>'
    )
    assert find_hrefs(page) == ["a.html", "/b.html", "../c.html#f", "mailto:x@y.z", "javascript:void(0)", "/q?x=1&y=2"]


def _raises(q, d, urls):
    raise RuntimeError(f"boom after {len(urls)} URLs")


def test_what_a_spawned_call_raises_is_reported_and_its_cpu_counted():
    pool = main.Workers(1, 2)
    pool(_raises, None, None, [f"u{i}" for i in range(10)])
    cpu, errors = pool.wait()
    assert errors == ["RuntimeError: boom after 10 URLs"]
    assert cpu >= 0
