"""Public corpora of real-world and deliberately broken mail: every message parses, none crashes.

The datasets live outside the repository: ROUTEDESK_DATASETS, else <repo>/../shared/datasets (see their
SOURCE.txt and MANIFEST.csv files). CPython's own email test messages come with the interpreter.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from mailtext.message import parse_message
from tests.mailtext.helpers import assert_well_formed

REPO = Path(__file__).resolve().parents[2]


def datasets_dir() -> Path:
    return Path(os.environ.get("ROUTEDESK_DATASETS") or REPO.parent / "shared" / "datasets")


def cpython_email_data() -> Path | None:
    # Located without importing test.test_email, whose import does far more than we need.
    spec = importlib.util.find_spec("test")
    candidates = []
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "test_email" / "data")
    candidates += sorted(Path(sys.base_prefix).glob("lib/python3*/test/test_email/data"))
    candidates += sorted(Path("/root/.pyenv").glob("versions/3.*/lib/python3*/test/test_email/data"))
    return next((path for path in candidates if path.is_dir()), None)


def _params(root: Path | None, pattern: str, what: str) -> list[Any]:
    files = sorted(root.rglob(pattern)) if root is not None and root.is_dir() else []
    if root is None or not files:
        reason = f"{what} not found at {root} (set ROUTEDESK_DATASETS)" if root else f"{what} not found"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="missing")]
    return [pytest.param(path, id=str(path.relative_to(root))) for path in files]


def _read(path: Path | None) -> bytes:
    assert path is not None
    return path.read_bytes()


@pytest.mark.parametrize("path", _params(datasets_dir() / "flanker_eml", "*.eml", "flanker_eml"))
def test_flanker_message_parses(path: Path | None) -> None:
    assert_well_formed(parse_message(_read(path)))


@pytest.mark.parametrize("path", _params(datasets_dir() / "rubymail_eml", "*.eml", "rubymail_eml"))
def test_rubymail_message_parses(path: Path | None) -> None:
    assert_well_formed(parse_message(_read(path)))


@pytest.mark.parametrize("path", _params(cpython_email_data(), "msg_*.txt", "CPython's test_email data"))
def test_cpython_email_test_message_parses(path: Path | None) -> None:
    assert_well_formed(parse_message(_read(path)))


def _manifest(name: str) -> list[dict[str, str]]:
    path = datasets_dir() / name / "MANIFEST.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found (set ROUTEDESK_DATASETS)")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", ["flanker_eml", "rubymail_eml"])
def test_subjects_agree_with_the_stdlib_where_it_could_decode_them(name: str) -> None:
    # The manifest's subjects come from policy.default (first 80 characters); where it gave up on
    # a byte (U+FFFD) we decode more, so those rows are not comparable.
    compared = 0
    for row in _manifest(name):
        if "\ufffd" in row["subject"]:
            continue
        subject = parse_message((datasets_dir() / name / row["file"]).read_bytes()).subject
        assert subject.startswith(" ".join(row["subject"].split())), row["file"]
        compared += 1
    assert compared > 40


def _files(pattern: str) -> list[Path]:
    root = datasets_dir()
    files = sorted(root.glob(pattern))
    if not files:
        pytest.skip(f"no {pattern} under {root} (set ROUTEDESK_DATASETS)")
    return files


def test_every_flanker_bounce_is_classified_as_a_bounce() -> None:
    for path in _files("flanker_eml/bounce/*.eml"):
        assert parse_message(path.read_bytes()).auto == "bounce", path.name


def test_every_rubymail_delivery_report_names_the_message_it_bounced() -> None:
    for path in _files("rubymail_eml/multipart_report_emails/*.eml"):
        parsed = parse_message(path.read_bytes())
        assert parsed.auto == "bounce", path.name
        assert parsed.bounced_message_ids, path.name


def test_spam_complaint_reports_are_automatic_but_not_bounces() -> None:
    for path in _files("flanker_eml/complaints/*.eml"):
        assert parse_message(path.read_bytes()).auto == "auto_reply", path.name


def test_endless_nesting_torture_message_is_bounded() -> None:
    (path,) = _files("flanker_eml/enclosed-endless.eml")
    parsed = parse_message(path.read_bytes())
    assert parsed.text == "Hello"
    assert any("too many parts" in defect for defect in parsed.defects)


def test_iso_2022_jp_corpus_message_decodes_to_japanese() -> None:
    (path,) = _files("rubymail_eml/multi_charset/japanese_iso_2022.eml")
    parsed = parse_message(path.read_bytes())
    assert (parsed.subject, parsed.text) == ("まみむめも", "すみません。")
