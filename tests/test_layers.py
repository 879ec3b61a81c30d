"""The layering rules, for every module of the package: each layer imports only layers
below it, the coder knows nothing of training, coding needs no torch, the CLI only calls
the library's entry points, and no two modules import each other (directly or around)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bbcompress.families import FAMILIES

PACKAGE = Path(__file__).resolve().parents[1] / "bbcompress"
# Lowest first: a module may import its own layer and those below it.
LAYERS = [
    {"bbcompress.errors", "bbcompress.kinds"},
    {"bbcompress.codec", "bbcompress.io"},
    {"bbcompress.families"},
    {"bbcompress.checkpoint", "bbcompress.zoo"},
    {"bbcompress.chains", "bbcompress.sections", "bbcompress.rates", "bbcompress.choice", "bbcompress.workers"},
    {"bbcompress.api", "bbcompress.arrays", "bbcompress.demo", "bbcompress"},
    # each family's torch module: above the checkpoints it makes, beside training
    {"bbcompress.training", "bbcompress.families.networks",
     *(f"bbcompress.families.{f.torch_module}" for f in FAMILIES.values())},
    {"bbcompress.cli", "bbcompress.__main__"},
]
# Apart, though on one level: neither of these imports the other.
APART = [("bbcompress.codec", "bbcompress.io")]
# What the command line may call: the library's entry points, never its internals.
CLI_MAY_IMPORT = ("bbcompress.api", "bbcompress.demo", "bbcompress.errors", "bbcompress.training",
                  "bbcompress.cli")
# Only these may import torch (training, and each family's torch module).
TORCH_MODULES = ("bbcompress.training", "bbcompress.families.networks",
                 *(f"bbcompress.families.{f.torch_module}" for f in FAMILIES.values()))
TORCH_FREE_IN_TRAINING = ("bbcompress.training", "bbcompress.training.config")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, top_level_only: bool = False, package: str | None = None) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved against
    ``package``, by default its own), leaving out TYPE_CHECKING blocks (annotations
    only); with ``top_level_only``, only what runs on import (not inside functions)."""
    if package is None:
        package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    tree = ast.parse(path.read_text())
    nodes = [n for n in tree.body if not is_type_checking(n)] if top_level_only else walk_code(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            submodules = {f"{module}.{a.name}" for a in node.names if is_module(f"{module}.{a.name}")}
            names.update(submodules if len(submodules) == len(node.names) else submodules | {module})
    return names


def walk_code(tree: ast.AST):
    """Every node, except those under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if not is_type_checking(child):
            yield child
            yield from walk_code(child)


def is_module(name: str) -> bool:
    path = PACKAGE.parent / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def owner(name: str, groups) -> str | None:
    """The longest group name that ``name`` is or lies under."""
    found = [g for g in groups if name == g or name.startswith(g + ".")]
    return max(found, key=len, default=None)


def layer_of(name: str) -> int:
    everything = {g: i for i, layer in enumerate(LAYERS) for g in layer}
    group = owner(name, everything)
    assert group is not None, f"{name} is in no layer: add it to LAYERS"
    return everything[group]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_its_layer_and_below(path):
    me = module_name(path)
    for name in imports(path):
        if name.startswith("bbcompress"):
            assert layer_of(name) <= layer_of(me), f"{me} imports {name}, a layer above it"
            for a, b in APART:
                assert not (owner(me, [a]) and owner(name, [b]) or owner(me, [b]) and owner(name, [a])), (me, name)


@pytest.mark.parametrize("path", [p for p in MODULES if module_name(p).startswith("bbcompress.cli")],
                         ids=lambda p: p.name)
def test_the_cli_calls_only_entry_points(path):
    for name in imports(path):
        if name.startswith("bbcompress"):
            assert owner(name, CLI_MAY_IMPORT), f"{module_name(path)} imports {name}: go through bbcompress.api"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_training_and_the_families_torch_modules_import_torch(path):
    me = module_name(path)
    torch_ok = owner(me, TORCH_MODULES) and me not in TORCH_FREE_IN_TRAINING
    top_level = {n.split(".")[0] for n in imports(path, top_level_only=True)}
    everywhere = {n.split(".")[0] for n in imports(path)}
    if not torch_ok:
        assert not everywhere & {"torch", "torchvision"}, f"{me} imports torch"
        if not owner(me, ("bbcompress.cli", "bbcompress.training")):
            assert not any(owner(n, TORCH_MODULES) and n not in TORCH_FREE_IN_TRAINING for n in imports(path)), me
    elif me in TORCH_FREE_IN_TRAINING:
        assert not top_level & {"torch", "torchvision"}, me


def test_no_import_cycles():
    graph = {module_name(p): {n for n in imports(p, top_level_only=True) if n.startswith("bbcompress")}
             for p in MODULES}
    modules = set(graph)
    graph = {m: {owner(n, modules) for n in deps if owner(n, modules) and owner(n, modules) != m}
             for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(module, trail):
        if state.get(module) == 1:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(module):] + [module]))
        if state.get(module) == 2:
            return
        state[module] = 1
        for dep in sorted(graph[module]):
            visit(dep, trail + [module])
        state[module] = 2
    for module in sorted(graph):
        visit(module, [])


def test_the_rules_see_a_violation(tmp_path):
    """The checks above can fail: an upward import and a cycle are caught."""
    assert layer_of("bbcompress.cli.user") > layer_of("bbcompress.codec.core")
    bad = tmp_path / "bad.py"
    bad.write_text("from ..training import train\nfrom .. import api\n")
    found = imports(bad, package="bbcompress.cli")
    assert found == {"bbcompress.training.train", "bbcompress.api"}
    assert layer_of("bbcompress.training.train") > layer_of("bbcompress.io")


@pytest.mark.slow
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


@pytest.mark.slow
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
