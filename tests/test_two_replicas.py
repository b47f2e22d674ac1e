"""deploy/'s topology, tested without Docker (tests/cluster.py): two `streamlit run app.py` replicas behind
Debian's nginx running the nginx config that deploy/ ships, one board database (PostgreSQL, or a shared
SQLite file where PostgreSQL is not installed). Four students train through nginx, two on each replica,
post to one board, and keep their sessions when every websocket drops and reconnects (an nginx reload).
benchmarks/two_replicas.py runs the same with twelve students; README quotes its results file."""

from __future__ import annotations

import os

import pytest
from cluster import TEMPLATE, nginx_binary, render_template, two_replicas
from conftest import require_chromium

from bptt.board import open_store

pytestmark = pytest.mark.browser


def require_nginx() -> None:
    if nginx_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run should have installed Debian's nginx")
        pytest.skip("nginx is not installed (apt-get install -y nginx)")


def test_the_template_names_exactly_what_compose_sets():
    """compose.yaml sets the three placeholders the template uses, and the renderer refuses a missing or a
    stale one."""
    compose = (TEMPLATE.parents[1] / "compose.yaml").read_text()
    values = {
        "BPTT_LISTEN": "80",
        "BPTT_ACCESS_LOG": "/dev/stdout",
        "BPTT_UPSTREAM_SERVERS": "server app:8501;",
    }
    for name in values:
        assert f"{name}:" in compose, f"compose.yaml does not set {name} for the nginx template"
    text = render_template(TEMPLATE.read_text(), values)
    assert "${" not in text and "server app:8501;" in text
    with pytest.raises(ValueError):
        render_template(TEMPLATE.read_text(), {k: v for k, v in values.items() if k != "BPTT_LISTEN"})
    with pytest.raises(ValueError):
        render_template(TEMPLATE.read_text(), {**values, "BPTT_OLD": "x"})


def test_compose_names_files_that_exist():
    """The files compose.yaml builds from and mounts are this folder's: the Dockerfile (from the
    repository's root), the nginx template into the nginx image's template folder."""
    deploy = TEMPLATE.parents[1]
    compose = (deploy / "compose.yaml").read_text()
    assert "context: .." in compose and "dockerfile: deploy/Dockerfile" in compose
    assert (deploy.parent / "deploy" / "Dockerfile").is_file()
    assert "./nginx/bptt.conf.template:/etc/nginx/templates/default.conf.template:ro" in compose
    assert (deploy / "nginx" / "bptt.conf.template").is_file()
    assert "BPTT_BOARD_URL: postgresql://" in compose and "STREAMLIT_SERVER_COOKIE_SECRET:" in compose


def test_four_students_over_two_replicas_behind_nginx(browser):
    require_chromium()
    require_nginx()
    with two_replicas("test_two_replicas") as cluster:
        from cluster import drive_class

        store = open_store(cluster["env"])
        result = drive_class(browser, cluster, 4, store.posts)
    assert result["failures"] == [], result
    assert result["sessions_per_replica"] == [2, 2]
    assert result["confirmed_posts_per_replica"] == [2, 2]
