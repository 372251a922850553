from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.routing import repository
from app.routing.models import TRIAGE, Area, RoutingRule
from app.routing.schemas import AREA_NAME_MAX, AREA_NAME_PATTERN, AreaCreate, AreaUpdate, RuleCreate, RuleRead
from classifiers.errors import ArtifactError

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class RouteRequest:
    text: str
    sender: str | None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    area: str
    routed_by: str  # rule | model | fallback
    probability: float | None = None
    model_version: str | None = None
    priority: str = "normal"  # a rule's; the model gives none


@dataclass(frozen=True, slots=True)
class Route:
    """Where a new ticket goes: a decision held to the areas that exist."""

    area: Area
    routed_by: str  # rule | model | fallback
    probability: float | None
    model_version: str | None
    priority: str = "normal"
    held_from: str | None = None  # the area that holds failed mail in triage (see hold_failed)


# `routed_by` of a ticket whose area holds mail that failed sender authentication in triage.
HELD = "held"


def hold_failed(areas: Mapping[str, Area], route: Route) -> Route:
    """Where mail whose sender failed authentication (issue 14) goes: the routed area, or triage when
    that area holds such mail (`hold_failed_mail`), for someone to look at before its queue does."""
    if not route.area.hold_failed_mail or route.area.name == TRIAGE:
        return route
    return Route(
        area=areas[TRIAGE],
        routed_by=HELD,
        probability=route.probability,
        model_version=route.model_version,
        priority=route.priority,
        held_from=route.area.name,
    )


def route(areas: Mapping[str, Area], decision: RouteDecision) -> Route:
    """The area a decision names, or triage when no such area exists (any more) or it is archived: a fallback."""
    named = areas.get(decision.area)
    area = named if named is not None and not named.archived else areas[TRIAGE]
    return Route(
        area=area,
        routed_by=decision.routed_by if area.name == decision.area else "fallback",
        probability=decision.probability,
        model_version=decision.model_version,
        priority=decision.priority,
    )


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # sender_domain | keyword
    pattern: str
    area: str
    priority: str | None = None

    def matches(self, request: RouteRequest, pattern: re.Pattern[str] | None) -> bool:
        if self.kind == "sender_domain":
            domain = (request.sender or "").rpartition("@")[2].lower()
            return domain == self.pattern or domain.endswith("." + self.pattern)
        return pattern is not None and pattern.search(request.text) is not None


@dataclass(frozen=True, slots=True)
class ServingModel:
    """The active model as routing uses it: its compact form (NumPy only) when it has one, else the
    scikit-learn pipeline from its artifact."""

    version: str
    threshold: float
    classes: list[str]
    compact: Any = None  # classifiers.compact.CompactModel
    pipeline: Any = None  # sklearn Pipeline

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most likely area of each text and its probability."""
        if self.compact is not None:
            from classifiers.compact import top_labels

            return top_labels(self.compact.predict_proba(texts), self.compact.classes)
        from classifiers.predict import predict  # scikit-learn loads only for a model without compact form

        return [(p.label, p.probability) for p in predict(self.pipeline, texts, top_k=1)]


@dataclass
class _Snapshot:
    rules: list[tuple[Rule, re.Pattern[str] | None]] = field(default_factory=list)
    thresholds: dict[str, float | None] = field(default_factory=dict)
    version: str | None = None
    model: ServingModel | None = None
    default_threshold: float = 1.01


class Router:
    """Decides the area of new tickets: admin rules first, then the active model; whatever the model
    is not sure enough of (below the area's threshold) waits in triage, as does everything when
    there is no model at all. It reloads rules and the active model from the database (every
    `refresh_seconds`), so activating a version on one host changes routing on every worker."""

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        refresh_seconds: float = 5.0,
        observe: Callable[[float], None] | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        # Told how long each decide() took, in seconds (the classification latency metric).
        self.observe = observe
        self.refresh_seconds = refresh_seconds
        self._snapshot = _Snapshot()
        self._refreshed_at = -1e9
        self._refusals: dict[str, str] = {}

    @property
    def version(self) -> str | None:
        return self._snapshot.version

    @property
    def threshold(self) -> float | None:
        return self._snapshot.default_threshold if self._snapshot.model is not None else None

    def refusal(self, version: str) -> str | None:
        return self._refusals.get(version)

    async def refresh(self, session: AsyncSession, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._refreshed_at < self.refresh_seconds:
            return
        self._refreshed_at = now
        snapshot = _Snapshot(
            rules=[
                (rule, _keyword(rule))
                for rule in (
                    Rule(kind=k, pattern=p, area=a, priority=level)
                    for k, p, a, level in await repository.active_rules(session)
                )
            ],
            thresholds={a.name: a.threshold for a in (await repository.areas_by_name(session)).values() if a.active},
            version=self._snapshot.version,
            model=self._snapshot.model,
            default_threshold=self._snapshot.default_threshold,
        )
        active = await repository.active_model_stamp(session)
        if active is None:
            snapshot.version, snapshot.model = None, None
        elif active[0] != self._snapshot.version and active[0] not in self._refusals:
            version = active[0]
            try:
                loaded = await load_serving(session, version, cache_dir=self.cache_dir)
            except ArtifactError as exc:
                # The version that served until now keeps serving; the refusal is logged and kept.
                self._refusals[version] = str(exc)
                log.error("model_refused", version=version, error=str(exc))
            else:
                snapshot.version, snapshot.model = version, loaded
                snapshot.default_threshold = loaded.threshold
                log.info(
                    "model_loaded", version=version, classes=len(loaded.classes), compact=loaded.compact is not None
                )
        self._snapshot = snapshot

    def decide(self, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        started = time.perf_counter()
        decisions = self._decide(requests)
        if self.observe is not None and requests:
            self.observe(time.perf_counter() - started)
        return decisions

    def _decide(self, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        snap = self._snapshot
        decisions: list[RouteDecision | None] = []
        for request in requests:
            rule = next((r for r, pattern in snap.rules if r.matches(request, pattern)), None)
            decisions.append(
                RouteDecision(area=rule.area, routed_by="rule", probability=1.0, priority=rule.priority or "normal")
                if rule
                else None
            )
        pending = [i for i, d in enumerate(decisions) if d is None]
        if pending and snap.model is not None:
            texts = [requests[i].text for i in pending]
            for i, (label, probability) in zip(pending, snap.model.predict(texts), strict=True):
                threshold = snap.thresholds.get(label)
                if threshold is None:
                    threshold = snap.default_threshold
                confident = probability >= threshold and label in snap.thresholds
                decisions[i] = RouteDecision(
                    area=label if confident else TRIAGE,
                    routed_by="model" if confident else "fallback",
                    probability=probability,
                    model_version=snap.version,
                )
        return [d or RouteDecision(area=TRIAGE, routed_by="fallback") for d in decisions]


def _keyword(rule: Rule) -> re.Pattern[str] | None:
    if rule.kind != "keyword":
        return None
    return re.compile(rf"(?<!\w){re.escape(rule.pattern)}(?!\w)", re.IGNORECASE)


async def load_serving(session: AsyncSession, version: str, *, cache_dir: Path | None) -> ServingModel:
    """The version as routing serves it. From its compact form when it has one: NumPy reads a few
    MB, checked against the metadata and the artifact's checksum (streamed, never read whole), and
    neither scikit-learn nor skops is imported. Else from the artifact, with every check."""
    form = await repository.serving_form(session, version)
    if form is None:
        raise ArtifactError(f"no model version {version!r}")
    meta, has_compact = form
    if has_compact:
        from classifiers.compact import CompactError, check_metadata, loads

        # Hashed before the compact form is read, so that the two never take memory at once.
        artifact_sha256 = await repository.artifact_sha256(session, version)
        try:
            compact = await asyncio.to_thread(loads, await repository.compact_form(session, version) or b"")
        except CompactError as exc:
            raise ArtifactError(f"model {version}: {exc}") from None
        check_metadata(meta, compact, artifact_sha256=artifact_sha256)
        return ServingModel(
            version=version, threshold=float(meta["threshold"]), classes=list(compact.classes), compact=compact
        )
    loaded = await load_version(session, version, cache_dir=cache_dir)
    return ServingModel(
        version=version,
        threshold=float(loaded.metadata.threshold),
        classes=list(loaded.metadata.classes),
        pipeline=loaded.pipeline,
    )


def compact_form(pipeline: Any, artifact_sha256: str) -> bytes | None:
    """The compact form of a pipeline that passed its checks (None for a shape without one)."""
    from classifiers.compact import compile_pipeline, dumps

    compact = compile_pipeline(pipeline, artifact_sha256=artifact_sha256)
    return dumps(compact) if compact is not None else None


async def load_version(session: AsyncSession, version: str, *, cache_dir: Path | None) -> Any:
    """The stored artifact of a version, written to a cache folder and loaded there with every check
    (checksum, library versions, skops type allow-list). Raises ArtifactError when it must not serve."""
    row = await repository.model_version(session, version)
    if row is None:
        raise ArtifactError(f"no model version {version!r}")
    return await asyncio.to_thread(_load_from_bytes, row.version, row.artifact, row.meta, cache_dir)


def _load_from_bytes(version: str, artifact: bytes, meta: dict[str, Any], cache_dir: Path | None) -> Any:
    # Imported here: scikit-learn, SciPy and skops cost seconds and ~100 MB, and a worker without a
    # model (or a `poll --once` before one is active) never needs them.
    from classifiers.artifacts import load_model

    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        directory = Path(scratch) / version
        directory.mkdir()
        (directory / "model.skops").write_bytes(artifact)
        (directory / "metadata.json").write_text(json.dumps(meta))
        return load_model(directory)


async def areas_for_routing(session: AsyncSession) -> dict[str, Area]:
    """The areas by name, with the triage queue created on first use: routing always has a place to go."""
    areas = await repository.areas_by_name(session)
    if TRIAGE not in areas:
        triage = Area(name=TRIAGE, title="Triage", description="Tickets no rule or model routed with confidence")
        session.add(triage)
        await session.flush()
        areas[TRIAGE] = triage
    return areas


async def record_label(
    session: AsyncSession, *, ticket_id: int, area: str, previous: str | None, source: str, actor: str
) -> None:
    """An agent's word on a ticket's area, for training: `confirmed` by solving it, `corrected` by re-routing."""
    await repository.add_label(session, ticket_id=ticket_id, area=area, previous=previous, source=source, actor=actor)


_AREA_NAME = re.compile(AREA_NAME_PATTERN)
_NOT_IN_NAME = re.compile(r"[^a-z0-9_-]+")


def area_name_for_class(label: str) -> str:
    """The area name a model class goes by. The one rule: lowercase, every run of other characters
    than letters, digits, `_` and `-` (spaces, dots, slashes...) becomes one `-`, and leading or
    trailing `-`/`_` go: `Refund_not_showing_up` -> `refund_not_showing_up`, `Card Payment (fee)` ->
    `card-payment-fee`. A label left empty or longer than an area name may be is refused."""
    name = _NOT_IN_NAME.sub("-", label.strip().lower()).strip("-_")
    if not name or len(name) > AREA_NAME_MAX or not _AREA_NAME.match(name):
        raise InvalidInput(f"the class {label!r} cannot be an area name (1-{AREA_NAME_MAX} of a-z, 0-9, _ and -)")
    return name


def area_names_for_classes(labels: Sequence[str]) -> dict[str, str]:
    """Each label's area name (area_name_for_class); two labels that would share one are refused."""
    names = {label: area_name_for_class(label) for label in labels}
    by_name: dict[str, list[str]] = {}
    for label, name in names.items():
        by_name.setdefault(name, []).append(label)
    clashes = [
        f"{' and '.join(map(repr, sorted(group)))} -> {name!r}" for name, group in by_name.items() if len(group) > 1
    ]
    if clashes:
        raise InvalidInput(f"classes would share an area name: {'; '.join(sorted(clashes))}; rename one of each")
    return names


def is_area_name(name: str) -> bool:
    return len(name) <= AREA_NAME_MAX and _AREA_NAME.match(name) is not None


async def get_area(session: AsyncSession, name: str) -> Area:
    area = await repository.area_by_name(session, name)
    if area is None:
        raise NotFound(f"no area named {name!r}")
    return area


async def routable_area(session: AsyncSession, name: str) -> Area:
    """An area new tickets may be sent to (a rule, a re-route): it exists and is not archived."""
    area = await get_area(session, name)
    if area.archived:
        raise Conflict(f"the area {name!r} is archived: nothing new is routed to it (unarchive it first)")
    return area


async def archive_area(session: AsyncSession, area: Area) -> int:
    """No new routing to the area: the router sends what its model class would get to triage and
    skips the rules pointing at it (returned: how many). Its tickets stay, and stay workable."""
    if area.name == TRIAGE:
        raise InvalidInput("the triage area cannot be archived: unrouted tickets wait there")
    if not area.archived:
        area.active, area.archived_at = False, utcnow()
        await session.flush()
    return await repository.rules_for_area(session, area.id)


async def unarchive_area(session: AsyncSession, area: Area) -> Area:
    if area.archived:
        area.active, area.archived_at = True, None
        await session.flush()
    return area


async def delete_area(session: AsyncSession, area: Area) -> None:
    """Deletes an area nothing refers to; else refuses, saying what does."""
    if area.name == TRIAGE:
        raise InvalidInput("the triage area cannot be deleted: unrouted tickets wait there")
    references = {kind: n for kind, n in (await repository.area_references(session, area)).items() if n}
    if references:
        named = ", ".join(f"{n} {kind if n != 1 else kind.rstrip('s')}" for kind, n in references.items())
        raise Conflict(f"the area {area.name!r} cannot be deleted: {named} refer to it (archive it instead)")
    await session.delete(area)
    await session.flush()


async def list_areas(session: AsyncSession) -> list[Area]:
    return sorted((await repository.areas_by_name(session)).values(), key=lambda a: a.name)


async def create_area(session: AsyncSession, data: AreaCreate) -> Area:
    if await repository.area_by_name(session, data.name) is not None:
        raise Conflict(f"an area named {data.name!r} exists already")
    area = Area(**data.model_dump())
    session.add(area)
    await session.flush()
    return area


async def update_area(session: AsyncSession, area: Area, data: AreaUpdate) -> Area:
    changes = data.model_dump(exclude_unset=True)
    if area.name == TRIAGE and changes.get("active") is False:
        raise InvalidInput("the triage area cannot be deactivated: unrouted tickets wait there")
    # `active` is the archive flag seen from the other side: false archives, true unarchives.
    active = changes.pop("active", None)
    if active is False:
        await archive_area(session, area)
    elif active is True:
        await unarchive_area(session, area)
    for key, value in changes.items():
        setattr(area, key, value)
    await session.flush()
    return area


async def list_rules(session: AsyncSession) -> list[RuleRead]:
    return [
        RuleRead(
            id=rule.id,
            kind=rule.kind,
            pattern=rule.pattern,
            area=area,
            position=rule.position,
            active=rule.active,
            area_archived=not area_active,
            priority=rule.priority,
        )
        for rule, area, area_active in await repository.rules(session)
    ]


async def create_rule(session: AsyncSession, data: RuleCreate) -> RuleRead:
    area = await routable_area(session, data.area)
    pattern = data.pattern.strip().lower()
    if data.kind == "sender_domain":
        pattern = pattern.lstrip("@")
        if "@" in pattern or "." not in pattern or " " in pattern:
            raise InvalidInput("a sender_domain rule takes a domain such as example.com")
    priority = str(data.priority) if data.priority is not None else None
    rule = RoutingRule(kind=data.kind, pattern=pattern, area_id=area.id, position=data.position, priority=priority)
    session.add(rule)
    await session.flush()
    return RuleRead(
        id=rule.id,
        kind=rule.kind,
        pattern=rule.pattern,
        area=area.name,
        position=rule.position,
        active=rule.active,
        priority=rule.priority,
    )


async def delete_rule(session: AsyncSession, rule_id: int) -> None:
    rule = await session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound(f"no rule {rule_id}")
    await session.delete(rule)
    await session.flush()
