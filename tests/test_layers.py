"""The layering rules: the coder knows nothing of training, and coding needs no torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bbcompress"
TORCH_FREE = ("codec", "io", "model/config.py", "model/checkpoint.py", "model/coding.py",
              "model/codings.py", "model/local_coding.py", "model/conv_coding.py",
              "model/zoo.py", "api.py", "kinds.py", "errors.py", "demo.py", "cli/__init__.py",
              "cli/coding.py", "cli/progress.py", "training/config.py")
FORBIDDEN_EVERYWHERE_BELOW = {
    "codec": ("torch", "torchvision", "bbcompress.training", "bbcompress.cli", "bbcompress.model",
              "bbcompress.io", "bbcompress.api", "click", "tqdm"),
    "io": ("torch", "torchvision", "bbcompress.training", "bbcompress.cli", "bbcompress.model",
           "bbcompress.codec", "bbcompress.api"),
}


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def modules_under(part: str) -> list[Path]:
    target = PACKAGE / part
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_EVERYWHERE_BELOW))
def test_lower_layers_import_nothing_above_them(layer):
    forbidden = FORBIDDEN_EVERYWHERE_BELOW[layer]
    for path in modules_under(layer):
        for name in imported_modules(path):
            assert not any(name == f or name.startswith(f + ".") for f in forbidden), (path, name)


def test_the_coding_path_imports_no_torch():
    for part in TORCH_FREE:
        for path in modules_under(part):
            names = imported_modules(path)
            assert not any(n.split(".")[0] in ("torch", "torchvision") for n in names), path
            assert not any(n.startswith(("bbcompress.training.", "bbcompress.model.vae")) and
                           n != "bbcompress.training.config" and not n.startswith("bbcompress.training.config.")
                           for n in names), path


def test_compress_and_decompress_run_with_torch_unavailable(tmp_path):
    """In a fresh interpreter where ``import torch`` fails, the user's commands still work."""
    script = f"""
import sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
from bbcompress.cli import main
for args in (["compress", {str(PACKAGE / 'assets/samples')!r}, "-o", {str(tmp_path / 's.bbc')!r}, "-q"],
             ["test", {str(tmp_path / 's.bbc')!r}, "-q"], ["info", {str(tmp_path / 's.bbc')!r}],
             ["decompress", {str(tmp_path / 's.bbc')!r}, "-o", {str(tmp_path / 'out')!r}, "-q"]):
    try:
        main(args, standalone_mode=False)
    except SystemExit as e:
        assert not e.code, (args, e.code)
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
    assert len(list((tmp_path / "out").rglob("*.p*m"))) + len(list((tmp_path / "out").rglob("*.png"))) == 48


def test_models_without_a_latent_code_without_importing_scipy(tmp_path):
    """scipy.special (0.3 s to import) serves only the latent codecs: an image coded and
    decoded by a local model, the default for digits, must not wait for it."""
    archive, sample = tmp_path / "g.bbc", PACKAGE / "assets/samples/greyscale/test-0000.png"
    script = f"""
import sys
from bbcompress.cli import main
for args in (["compress", {str(sample)!r}, "-o", {str(archive)!r}, "-m", "mnist-greyscale-local-v2", "-q"],
             ["test", {str(archive)!r}, "-q"]):
    try:
        main(args, standalone_mode=False)
    except SystemExit as e:
        assert not e.code, (args, e.code)
print("scipy.special" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.split() == ["False"], result.stderr[-2000:]
