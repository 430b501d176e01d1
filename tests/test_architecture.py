"""docs/ARCHITECTURE.md's table and the import-linter layers contract cover every package.

The table says what each package and top-level module of ``src/nextofkin`` does; the layers
contract in ``pyproject.toml`` (``lint-imports``) holds the order it says in prose. A package added
to the source that neither names, or a name in either that no longer exists, fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nextofkin"
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def source_modules() -> set[str]:
    """Every package and top-level module of nextofkin, dotted."""
    names = {f"nextofkin.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    names |= {f"nextofkin.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return names


def table_modules() -> set[str]:
    """The names in the first column of the table."""
    names: set[str] = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `nextofkin"):
            first = line.split("|")[1]
            names |= set(re.findall(r"`(nextofkin\.[\w]+)`", first))
    return names


def contract_layers() -> list[list[str]]:
    """The layers contract, top first; each layer the names it groups."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["id"] == "layers")["layers"]
    return [re.split(r"\s*[|:]\s*", layer.strip()) for layer in layers]


def prose_layers() -> list[list[str]]:
    """The order the document states in prose (``cli`` → ``web`` → …), top first."""
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    found = re.search(r"in this order: (.*?), or when", text)
    assert found, "docs/ARCHITECTURE.md no longer states the layer order"
    return [re.findall(r"`(\w+)`", part) for part in found.group(1).split("→")]


def test_the_table_names_every_package_and_module() -> None:
    source, table = source_modules(), table_modules()
    assert not source - table, f"missing from docs/ARCHITECTURE.md's table: {source - table}"
    assert not table - source, f"in the table but not in src/nextofkin: {table - source}"


def test_the_layers_contract_names_every_package_and_module() -> None:
    source = source_modules()
    layered = {name for layer in contract_layers() for name in layer}
    assert not source - layered, f"missing from the layers contract: {source - layered}"
    gone = layered - source
    assert not gone, f"in the layers contract but not in src/nextofkin: {gone}"


def test_the_prose_states_the_contract_order() -> None:
    contract = [
        [name.removeprefix("nextofkin.") for name in layer]
        for layer in contract_layers()
        if layer != ["nextofkin.__main__"]
    ]
    assert prose_layers() == contract
