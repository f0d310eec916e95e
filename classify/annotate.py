"""Label Studio as the annotation tool for a validation sample: the labelling interface, push, pull, file
round trip and agreement.

A sample from ``classify sample`` is JSONL, one measure a row (``id``, ``notice``, ``issuer``, ``heading``,
``text``, ``purpose`` and, in review mode, ``model_label``; the rest is sampling bookkeeping). Each row
becomes one Label Studio task whose data are ``id``, ``issuer``, ``heading``, ``text`` and ``notice``
only: a blind sample (``purpose: validation``) never shows the model's label, nor the stratum or weight
(a stratum may be the predicted label); a review sample (``purpose: review``) carries the model's label as
a prediction that Label Studio shows as a pre-annotation.

People code the tasks in Label Studio; :func:`pull` (or :func:`read_export` for a file exported from
Label Studio's "JSON" format) turns their annotations back into rows ``id``, ``label``,
``secondary_label``, ``annotator``, ``time``, ``lead_time``, one per measure and annotator. A skipped
(cancelled) annotation is no label and is left out; when an annotator submitted a measure twice, the
later submission counts.

The client is ``label-studio-sdk`` (the 1.x/2.x ``LabelStudio`` client), an optional extra:
``pip install 'classify[annotate]'``. The server (``label-studio``) may run anywhere; see the README.
"""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from classify.errors import ClassifyError, ConfigError, InputError
from classify.fileio import atomic_writer, check_output_path, iter_jsonl
from classify.labels import LabelScheme, load_scheme

URL_ENV = "LABEL_STUDIO_URL"
API_KEY_ENV = "LABEL_STUDIO_API_KEY"
# names in the labelling config; an export is read by these
TEXT = "text"
LABEL = "label"
SECONDARY = "secondary_label"
TASK_FIELDS = ("id", "issuer", "heading", "text", "notice")  # all a task shows or carries: never the model's label
MODEL_VERSION = "classify"
PURPOSES = ("validation", "review")
TITLE_MAX = 50  # Label Studio's limit on a project title
IMPORT_CHUNK = 500


class LabelStudioError(ClassifyError, RuntimeError):
    """Label Studio cannot be reached or used (the URL, the API key, the project); the message says which."""


# -- the scheme and the labelling interface -------------------------------------------------------------


def _scheme(scheme: LabelScheme | str | Path | None) -> LabelScheme:
    if isinstance(scheme, LabelScheme):
        return scheme
    return load_scheme(scheme) if scheme is not None else load_scheme()


def _choice_html(cat: Any) -> str:
    """What an annotator sees on a choice: Chinese and English names, then the short rule hint."""
    names = f"<b>{escape(cat.name_zh or cat.id, quote=False)}</b>"
    if cat.name_en:
        names += f" · {escape(cat.name_en, quote=False)}"
    hint = " — ".join(escape(h, quote=False) for h in (cat.hint_zh, cat.hint_en) if h)
    if hint:
        names += f'<br/><span style="color:#555;font-size:90%">{hint}</span>'
    return names


def labelling_config(scheme: LabelScheme | str | Path | None = None) -> str:
    """Label Studio's labelling interface (XML) for ``scheme``: the issuer and heading path above the measure,
    a required single choice ``label`` (one Choice per category: Chinese and English names and the rule hint)
    and an optional ``secondary_label``. Choice values are the category ids, so exports hold ids."""
    scheme = _scheme(scheme)
    root = ET.Element("View")
    ET.SubElement(root, "Style").text = (
        ".classify-issuer *{font-size:18px !important;margin:0 !important}"
        ".classify-heading *{font-size:14px !important;font-weight:normal !important;color:#555 !important;"
        "margin:2px 0 0 0 !important}"
        ".classify-measure{font-size:17px;line-height:1.7;padding:10px 14px;background:#fafafa;"
        "border-left:4px solid #1f77b4;margin:6px 0 14px 0}")
    ET.SubElement(ET.SubElement(root, "View", className="classify-issuer"), "Header", value="$issuer", size="4")
    ET.SubElement(ET.SubElement(root, "View", className="classify-heading"), "Header", value="$heading", size="6")
    measure = ET.SubElement(root, "View", className="classify-measure")
    ET.SubElement(measure, "Text", name=TEXT, value="$text")
    ET.SubElement(root, "Header", value="类别 Category (required)", size="5")
    primary = ET.SubElement(root, "Choices", name=LABEL, toName=TEXT, choice="single-radio", required="true",
                            requiredMessage="Choose the measure's category", showInline="false")
    for i, cat in enumerate(scheme.categories):
        attrs = {"value": cat.id, "html": _choice_html(cat)}
        if i < 9:
            attrs["hotkey"] = str(i + 1)
        ET.SubElement(primary, "Choice", attrs)
    ET.SubElement(root, "Header", value="次要类别 Secondary category (optional)", size="6")
    secondary = ET.SubElement(root, "Choices", name=SECONDARY, toName=TEXT, choice="single", required="false",
                              showInline="true")
    for cat in scheme.categories:
        ET.SubElement(secondary, "Choice", value=cat.id, html=escape(cat.name_zh or cat.id))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def instructions(scheme: LabelScheme | str | Path | None = None) -> str:
    """The categories with their hints as HTML, for the project's instructions."""
    scheme = _scheme(scheme)
    items = "".join(f"<li><b>{escape(c.name_zh or c.id)}</b> ({escape(c.name_en)}): {escape(c.hint_zh)}"
                    f"<br/>{escape(c.hint_en)}</li>" for c in scheme.categories)
    return (f"<p>Choose the one category of each measure (label scheme <code>{escape(scheme.name)}</code>); "
            f"a second category only where the measure clearly does both.</p><ol>{items}</ol>")


# -- the sample and its tasks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    path: Path
    rows: list[dict]
    purpose: str  # "validation" (blind) or "review"

    @property
    def blind(self) -> bool:
        return self.purpose == "validation"

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.rows]


def read_sample(path: str | Path, scheme: LabelScheme | str | Path | None = None) -> Sample:
    """A sample from ``classify sample``: rows with a unique ``id`` and a ``text``, one ``purpose``
    (``validation`` when absent) and, for review, a ``model_label`` of ``scheme``."""
    scheme = _scheme(scheme)
    rows, seen, purposes = [], {}, set()
    for lineno, obj in iter_jsonl(path, InputError):
        where = f"{path}:{lineno}"
        mid = obj.get("id")
        if mid is None or isinstance(mid, bool) or not isinstance(mid, str | int) or str(mid) == "":
            raise InputError(f"{where}: a sample row needs an 'id'")
        mid = str(mid)
        if mid in seen:
            raise InputError(f"{where}: id {mid!r} is also on line {seen[mid]}")
        seen[mid] = lineno
        if not isinstance(obj.get("text"), str) or not obj["text"].strip():
            raise InputError(f"{where}: a sample row needs a non-empty 'text'")
        purpose = obj.get("purpose") or "validation"
        if purpose not in PURPOSES:
            raise InputError(f"{where}: purpose {purpose!r} is neither 'validation' nor 'review'")
        purposes.add(purpose)
        rows.append({**obj, "id": mid})
    if not rows:
        raise InputError(f"{path}: the sample has no rows")
    if len(purposes) > 1:
        raise InputError(f"{path}: mixes purposes 'validation' and 'review'; push them as two projects")
    purpose = purposes.pop()
    if purpose == "review":
        for r in rows:
            if r.get("model_label") not in scheme:
                raise InputError(f"{path}: review row {r['id']!r} has model_label {r.get('model_label')!r}, "
                                 f"not one of the scheme's labels ({', '.join(scheme.labels)})")
    return Sample(Path(path), rows, purpose)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " > ".join(map(str, value))
    return str(value)


def task_data(row: Mapping[str, Any]) -> dict[str, str]:
    """A task's data: the measure and where it stands; nothing of the model's or the sampling's."""
    heading = row.get("heading")
    if not heading and row.get("heading_path"):
        heading = row["heading_path"]
    return {"id": str(row["id"]), "issuer": _text(row.get("issuer")), "heading": _text(heading),
            "text": _text(row.get("text")), "notice": _text(row.get("notice"))}


def _choice_result(label: str, name: str = LABEL) -> dict:
    return {"from_name": name, "to_name": TEXT, "type": "choices", "value": {"choices": [label]}}


def make_task(row: Mapping[str, Any], purpose: str) -> dict:
    """One Label Studio import task; a review task carries the model's label as a prediction."""
    task: dict[str, Any] = {"data": task_data(row)}
    if purpose == "review":
        pred: dict[str, Any] = {"model_version": MODEL_VERSION, "result": [_choice_result(row["model_label"])]}
        if isinstance(row.get("confidence"), int | float) and not isinstance(row.get("confidence"), bool):
            pred["score"] = float(row["confidence"])
        task["predictions"] = [pred]
    return task


def export_tasks(sample_path: str | Path, out_json: str | Path, *, scheme: LabelScheme | str | Path | None = None,
                 config_out: str | Path | None = None) -> int:
    """Write the sample as Label Studio's import JSON (a list of tasks) for a Label Studio run elsewhere;
    with ``config_out``, also the labelling interface (XML). Returns the number of tasks."""
    scheme = _scheme(scheme)
    out_json = Path(out_json)
    if out_json.suffix.lower() != ".json":
        raise InputError(f"{out_json}: Label Studio's import file must end in .json")
    if out_json.is_dir():
        raise InputError(f"{out_json}: is a folder; give a file name")
    sample = read_sample(sample_path, scheme)
    tasks = [make_task(r, sample.purpose) for r in sample.rows]
    config = labelling_config(scheme) if config_out else None
    with atomic_writer(out_json) as fh:
        json.dump(tasks, fh, ensure_ascii=False, indent=1)
    if config_out:
        with atomic_writer(config_out) as fh:
            fh.write(config + "\n")
    return len(tasks)


# -- reading annotations --------------------------------------------------------------------------------


def _choice(result: Sequence[Any], name: str) -> list[str]:
    for item in result or ():
        if isinstance(item, Mapping) and item.get("from_name") == name and item.get("type") == "choices":
            choices = (item.get("value") or {}).get("choices") or []
            return [str(c) for c in choices]
    return []


def _annotator(completed_by: Any, users: Mapping[int, str]) -> str | int | None:
    if isinstance(completed_by, Mapping):
        return completed_by.get("email") or completed_by.get("id")
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return users.get(completed_by, completed_by)
    return completed_by


def parse_export(tasks: Any, scheme: LabelScheme | str | Path | None = None, *, source: str = "export",
                 users: Mapping[int, str] | None = None) -> list[dict]:
    """Annotation rows from Label Studio's JSON export (a list of tasks with ``data`` and ``annotations``).

    A label that is not the scheme's raises InputError naming the measure; so does a file that is not such
    an export. Cancelled (skipped) annotations are left out; of two submissions by one annotator on one
    measure the later one counts."""
    scheme = _scheme(scheme)
    users = users or {}
    if not isinstance(tasks, list) or not all(isinstance(t, Mapping) for t in tasks):
        raise InputError(f"{source}: not Label Studio's JSON export (expected a list of tasks)")
    latest: dict[tuple[str, Any], dict] = {}
    for n, task in enumerate(tasks):
        data = task.get("data")
        if not isinstance(data, Mapping) or "annotations" not in task:
            raise InputError(f"{source}: task {n + 1} has no 'data' or 'annotations': not Label Studio's JSON "
                             "export (export with format 'JSON')")
        mid = data.get("id")
        if mid is None or str(mid) == "":
            raise InputError(f"{source}: task {task.get('id', n + 1)} has no measure id (data.id): "
                             "not a task pushed or exported by classify")
        mid = str(mid)
        for ann in task.get("annotations") or ():
            if not isinstance(ann, Mapping) or ann.get("was_cancelled"):
                continue
            labels = _choice(ann.get("result") or [], LABEL)
            if not labels:
                continue  # submitted without a category: an empty annotation is no label
            secondary = _choice(ann.get("result") or [], SECONDARY)
            for lab in labels + secondary:
                if lab not in scheme:
                    raise InputError(f"{source}: measure {mid!r} has label {lab!r}, which is not in label scheme "
                                     f"{scheme.name!r} ({', '.join(scheme.labels)})")
            if len(labels) > 1:
                raise InputError(f"{source}: measure {mid!r} has {len(labels)} labels in one annotation; "
                                 "the interface allows one")
            sec = secondary[0] if secondary and secondary[0] != labels[0] else None
            lead = ann.get("lead_time")
            row = {"id": mid, "label": labels[0], "secondary_label": sec,
                   "annotator": _annotator(ann.get("completed_by"), users),
                   "time": ann.get("updated_at") or ann.get("created_at"),
                   "lead_time": round(float(lead), 3) if isinstance(lead, int | float) and math.isfinite(lead)
                   else None}
            key = (mid, row["annotator"])
            if key not in latest or str(row["time"] or "") >= str(latest[key]["time"] or ""):
                latest[key] = row
    return sorted(latest.values(), key=lambda r: (r["id"], str(r["time"] or ""), str(r["annotator"])))


def read_export(path: str | Path, scheme: LabelScheme | str | Path | None = None) -> list[dict]:
    """Annotation rows from a file of Label Studio's standard "JSON" export."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            tasks = json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a Label Studio export") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); export with format 'JSON'") \
            from None
    return parse_export(tasks, scheme, source=str(path))


def write_annotations(rows: Iterable[Mapping[str, Any]], out: str | Path) -> int:
    """Write annotation rows as JSONL, atomically; returns the count."""
    n = 0
    with atomic_writer(out) as fh:
        for row in rows:
            fh.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
            n += 1
    return n


# -- agreement ------------------------------------------------------------------------------------------


def agreement(rows: Iterable[Mapping[str, Any]], scheme: LabelScheme | str | Path | None = None) -> dict:
    """Agreement on the measures that two annotators coded: their count, the share with the same label and
    Cohen's kappa (rater-agnostic: the first and second annotation of each measure by time, as when the
    pairs of annotators differ between measures). A measure with more than two annotators counts its first
    two. Kappa is None when fewer than two measures were double-coded or it is undefined."""
    from sklearn.metrics import cohen_kappa_score

    scheme = _scheme(scheme)
    by_item: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_item[str(r["id"])].append(r)
    first, second, pairs = [], [], Counter()
    for mid in sorted(by_item):
        anns = sorted(by_item[mid], key=lambda r: str(r.get("time") or ""))
        distinct = []
        for a in anns:
            if all(a.get("annotator") != b.get("annotator") for b in distinct):
                distinct.append(a)
        if len(distinct) < 2:
            continue
        first.append(distinct[0]["label"])
        second.append(distinct[1]["label"])
        pairs[" & ".join(sorted(str(a.get("annotator")) for a in distinct[:2]))] += 1
    n = len(first)
    share = sum(a == b for a, b in zip(first, second, strict=True)) / n if n else None
    kappa = None
    if n >= 2 and len(set(first) | set(second)) > 1:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(cohen_kappa_score(first, second, labels=list(scheme.labels)))
        kappa = value if math.isfinite(value) else None
    annotators = sorted({str(r.get("annotator")) for rs in by_item.values() for r in rs})
    return {"items": n, "agreement": share, "kappa": kappa, "pairs": dict(pairs),
            "measures": len(by_item), "annotators": annotators}


def summary(rows: Sequence[Mapping[str, Any]], scheme: LabelScheme | str | Path | None = None) -> str:
    """One line on a set of annotation rows: counts, and agreement where measures were double-coded."""
    agr = agreement(rows, scheme)
    line = (f"{len(rows)} annotation(s) of {agr['measures']} measure(s) by {len(agr['annotators'])} "
            f"annotator(s)")
    if agr["items"]:
        kappa = "n/a" if agr["kappa"] is None else f"{agr['kappa']:.3f}"
        line += f"; {agr['items']} coded twice: agreement {agr['agreement']:.1%}, Cohen's kappa {kappa}"
    return line


# -- the server -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    project: int  # the project id
    title: str
    url: str  # the project's page
    created: bool  # a new project
    added: int  # tasks imported now
    existing: int  # measures of the sample that the project already had
    purpose: str
    annotators_per_item: int

    def __str__(self) -> str:
        mode = "blind validation" if self.purpose == "validation" else "review (model label pre-annotated)"
        verb = "created" if self.created else "updated"
        return (f"project {self.project} {self.title!r} {verb}: {self.added} task(s) added, {self.existing} "
                f"already there; {mode}, {self.annotators_per_item} annotator(s) per measure; {self.url}")


def _sdk():
    try:
        import httpx
        from label_studio_sdk import LabelStudio
        from label_studio_sdk.core.api_error import ApiError
    except ImportError:
        raise ConfigError("label-studio-sdk is not installed: pip install 'classify[annotate]'") from None
    return LabelStudio, ApiError, httpx


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        for key in ("validation_errors", "detail", "message", "error"):
            if body.get(key):
                value = body[key]
                return (json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value)[:300]
    text = str(body if body is not None else exc)
    return " ".join(text.split())[:300]


class _Server:
    """A Label Studio client whose failures are one-line LabelStudioErrors."""

    def __init__(self, url: str | None, api_key: str | None, timeout: float = 60.0) -> None:
        url = url or os.environ.get(URL_ENV)
        api_key = api_key or os.environ.get(API_KEY_ENV)
        if not url:
            raise ConfigError(f"no Label Studio URL: give --url or set {URL_ENV}")
        if not api_key:
            raise ConfigError(f"no Label Studio API key: give --api-key or set {API_KEY_ENV} (Label Studio: "
                              "Account & Settings > Access Token)")
        LabelStudio, self.ApiError, self.httpx = _sdk()
        self.url = url.rstrip("/")
        try:
            self.client = LabelStudio(base_url=self.url, api_key=api_key, timeout=timeout, max_retries=1)
        except self.ApiError as exc:  # a JWT key that has expired is refused here
            raise LabelStudioError(f"Label Studio at {self.url} refused the API key ({_detail(exc)})") from None
        self.call("check the API key", lambda: self.client.users.whoami())

    def call(self, what: str, fn, *, project: int | str | None = None):
        try:
            return fn()
        except self.httpx.TimeoutException:
            raise LabelStudioError(f"Label Studio at {self.url} did not answer in time ({what})") from None
        except (self.httpx.ConnectError, self.httpx.RemoteProtocolError, self.httpx.UnsupportedProtocol,
                self.httpx.InvalidURL) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise LabelStudioError(f"Label Studio at {self.url} is not reachable ({reason}); is it running?") \
                from None
        except self.ApiError as exc:
            status = exc.status_code
            if status in (401, 403):
                raise LabelStudioError(f"Label Studio at {self.url} refused the API key (HTTP {status}: "
                                       f"{_detail(exc)})") from None
            if status == 404 and project is not None:
                raise LabelStudioError(f"Label Studio at {self.url} has no project {project}") from None
            if status == 404 or (isinstance(exc.body, str) and "<html" in exc.body.lower()):
                raise LabelStudioError(f"{self.url} does not answer like Label Studio (HTTP {status} on "
                                       f"{what})") from None
            raise LabelStudioError(f"Label Studio at {self.url} refused to {what} (HTTP {status}: "
                                   f"{_detail(exc)})") from None
        except (ValueError, json.JSONDecodeError) as exc:  # an answer that is not Label Studio's JSON
            raise LabelStudioError(f"{self.url} does not answer like Label Studio ({what}: "
                                   f"{' '.join(str(exc).split())[:200]})") from None

    # -- projects

    def find_project(self, title: str) -> int | None:
        projects = self.call("list projects", lambda: list(self.client.projects.list(title=title)))
        ids = sorted(p.id for p in projects if p.title == title)
        if len(ids) > 1:
            raise LabelStudioError(f"Label Studio at {self.url} has {len(ids)} projects titled {title!r} "
                                   f"(ids {', '.join(map(str, ids))}); give the project's id")
        return ids[0] if ids else None

    def project(self, project: int | str, *, may_create: bool = False) -> tuple[int | None, str]:
        """An existing project's (id, title), from its id or title; (None, title) for a title not there yet
        when ``may_create``."""
        if isinstance(project, int) or project.strip().isdigit():
            pid = int(project)
            found = self.call(f"read project {pid}", lambda: self.client.projects.get(pid), project=pid)
            return pid, str(found.title)
        pid = self.find_project(project)
        if pid is None and not may_create:
            raise LabelStudioError(f"Label Studio at {self.url} has no project titled {project!r}")
        return pid, project

    def tasks(self, pid: int) -> list[Any]:
        return self.call("list tasks", lambda: list(self.client.tasks.list(project=pid, fields="all")),
                         project=pid)

    def users(self) -> dict[int, str]:
        try:
            return {u.id: u.email for u in self.client.users.list() if getattr(u, "email", None)}
        except Exception:  # a key without the right to list users: annotators stay ids
            return {}


def default_title(sample: Sample) -> str:
    first = sample.rows[0]
    digest = str(first.get("predictions_sha256") or "")[:8]
    parts = ["classify", sample.purpose, sample.path.stem]
    if digest:
        parts.append(digest)
    title = " ".join(parts)
    return title if len(title) <= TITLE_MAX else title[:TITLE_MAX - 1] + "…"


def push(sample_path: str | Path, *, url: str | None = None, api_key: str | None = None,
         project: int | str | None = None, annotators_per_item: int = 1,
         scheme: LabelScheme | str | Path | None = None) -> PushResult:
    """Create or update a project on a running Label Studio and import the sample's measures as tasks.

    ``project``: None (a project titled after the sample, created on the first push), a title (created if
    not there) or an id (must exist). Re-pushing adds only the measures the project lacks. With
    ``annotators_per_item`` 2 every task is given to two annotators (maximum annotations 2, overlap on
    100% of tasks). A blind sample's tasks carry no model label; a review sample's carry it as a prediction.
    """
    scheme = _scheme(scheme)
    if annotators_per_item not in (1, 2, 3):
        raise InputError(f"annotators per item must be 1, 2 or 3, not {annotators_per_item!r}")
    sample = read_sample(sample_path, scheme)
    tasks = {r["id"]: make_task(r, sample.purpose) for r in sample.rows}
    if project is None:
        project = default_title(sample)
    if isinstance(project, str) and not project.strip().isdigit() and not 3 <= len(project) <= TITLE_MAX:
        raise InputError(f"project title {project!r} must be 3 to {TITLE_MAX} characters")
    server = _Server(url, api_key)
    pid, title = server.project(project, may_create=True)
    settings = {"label_config": labelling_config(scheme), "maximum_annotations": annotators_per_item,
                "overlap_cohort_percentage": 100, "show_collab_predictions": not sample.blind,
                "expert_instruction": instructions(scheme), "show_instruction": False,
                "description": (f"classify {sample.purpose} sample {sample.path.name}: {len(tasks)} measures, "
                                f"label scheme {scheme.name}")}
    created = pid is None
    existing: dict[str, Any] = {}
    if created:
        made = server.call("create a project", lambda: server.client.projects.create(title=title, **settings))
        pid = made.id
    else:
        for t in server.tasks(pid):
            mid = str((t.data or {}).get("id", ""))
            if sample.blind and (t.total_predictions or t.predictions):
                raise LabelStudioError(f"project {pid} holds model predictions (a review project); a blind "
                                       "validation sample needs a project of its own")
            if mid:
                existing[mid] = t
        for mid, t in existing.items():
            if mid in tasks and str((t.data or {}).get("text", "")) != tasks[mid]["data"]["text"]:
                raise InputError(f"{sample_path}: measure {mid!r} is already in project {pid} with another text; "
                                 "push this sample to a new project")
        server.call(f"update project {pid}", lambda: server.client.projects.update(pid, **settings), project=pid)
    new = [task for mid, task in tasks.items() if mid not in existing]
    for start in range(0, len(new), IMPORT_CHUNK):
        chunk = new[start:start + IMPORT_CHUNK]
        server.call("import tasks", lambda chunk=chunk: server.client.projects.import_tasks(pid, request=chunk),
                    project=pid)
    return PushResult(project=pid, title=title, url=f"{server.url}/projects/{pid}/data", created=created, added=len(new),
                      existing=len(tasks) - len(new), purpose=sample.purpose, annotators_per_item=annotators_per_item)


def pull(*, url: str | None = None, api_key: str | None = None, project: int | str,
         out: str | Path | None = None, scheme: LabelScheme | str | Path | None = None) -> list[dict]:
    """Export a project's annotations as rows (``id``, ``label``, ``secondary_label``, ``annotator`` (email,
    or the user id where the key may not list users), ``time`` (ISO), ``lead_time`` in seconds); with
    ``out``, also write them as JSONL, atomically (nothing is written when anything fails)."""
    scheme = _scheme(scheme)
    if out is not None:
        out = check_output_path(out)
        if out.suffix.lower() != ".jsonl":
            raise InputError(f"{out}: annotations are written as JSONL; give a .jsonl file")
    if project is None or str(project).strip() == "":
        raise InputError("give the project (its id or title) to pull")
    server = _Server(url, api_key)
    pid, _ = server.project(project)
    exported = server.call(f"export project {pid}", lambda: server.client.projects.exports.as_json(pid),
                           project=pid)
    rows = parse_export(exported, scheme, source=f"project {pid} at {server.url}", users=server.users())
    if out is not None:
        write_annotations(rows, out)
    return rows
