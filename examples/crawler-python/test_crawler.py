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
