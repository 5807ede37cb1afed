"""The inference package's rooms: no import cycle, and the arrows point one way.

``api/`` (FastAPI app, routes, deps, middleware, HTTP error mapping) → ``scoring/`` → ``log/``
and ``monitoring/``. Read from the source with :mod:`ast` (runtime imports: those under
``if TYPE_CHECKING:`` are annotations only), so a loop hidden in a function body counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import porto_inference

ROOT = Path(porto_inference.__file__).parent
PACKAGE = "porto_inference"
#: The rooms below api/: none may import api/ or a web framework.
NO_HTTP = ("scoring", "log", "monitoring")
WEB = ("fastapi", "starlette")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    tree: ast.AST, module: str, is_package: bool, *, annotations: bool = False
) -> set[str]:
    """Modules imported at run time (anywhere but an ``if TYPE_CHECKING:`` block), or with
    ``annotations`` every import, those blocks included."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not annotations:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(*, annotations: bool = False) -> dict[str, set[str]]:
    """porto_inference module → the porto_inference modules (and outside packages) it imports
    (at run time; with ``annotations``, for type checking too)."""
    paths = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        names = _imports(tree, name, path.name == "__init__.py", annotations=annotations)
        edges = {n for n in names if n in modules and n != name}
        edges |= {n.split(".")[0] for n in names if not n.startswith(PACKAGE)}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(found)


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []
    assert cycles(import_graph(annotations=True)) == []


#: The rooms each room may import at run time: api → scoring → log, monitoring; monitoring reads
#: the log's store; the log imports no other room.
ALLOWED = {
    "api": {"scoring", "log", "monitoring"},
    "scoring": {"log", "monitoring"},
    "monitoring": {"log"},
    "log": set(),
}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ALLOWED else None


def test_arrows_point_one_way() -> None:
    wrong = []
    for module, edges in sorted(import_graph().items()):
        room = _room(module)
        if room is None:
            continue
        for target in sorted(edges):
            other = _room(target)
            if other is not None and other != room and other not in ALLOWED[room]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_lower_rooms_never_import_api_or_fastapi() -> None:
    wrong = []
    for module, edges in sorted(import_graph().items()):
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in NO_HTTP:
            continue
        for target in sorted(edges):
            if target.startswith(f"{PACKAGE}.api") or target in WEB:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_the_error_tree_is_plain() -> None:
    edges = import_graph()[f"{PACKAGE}.errors"]
    assert not edges & set(WEB)
    assert not any(e.startswith(f"{PACKAGE}.") for e in edges)


def test_the_rooms_exist() -> None:
    rooms = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert rooms == {"api", "scoring", "log", "monitoring"}


def test_scoring_never_imports_api_even_for_annotations() -> None:
    """scoring/ is the transport-agnostic layer: not even a type annotation reaches up."""
    wrong = [
        f"{module} imports {target}"
        for module, edges in sorted(import_graph(annotations=True).items())
        if module.startswith(f"{PACKAGE}.scoring")
        for target in sorted(edges)
        if target.startswith(f"{PACKAGE}.api") or target in WEB
    ]
    assert wrong == []


#: The modules one POST /predict passes through, in the order a reader follows it: the route and
#: what it calls in api/, then scoring/ (reading the body, the model that answers, the challengers'
#: canary and shadow queue, micro-batching, the log entry, the model, its codec and their data
#: types), then the entry points of monitoring/ and log/.
PREDICT_WALK = [
    f"{PACKAGE}.{name}"
    for name in (
        "api.routes.predict",
        "api.deps",
        "api.routes.body",
        "scoring.predict",
        "scoring.payload",
        "scoring.challengers",
        "scoring.model_manager",
        "scoring.microbatch",
        "scoring.log_entry",
        "scoring.model",
        "scoring.codec",
        "scoring.csv_input",
        "scoring.batch",
        "scoring.vocabulary",
        "monitoring.drift",
        "monitoring.metrics",
        "log.store",
        "log.challengers",
    )
]
ROOM_ORDER = {"api": 0, "scoring": 1, "monitoring": 2, "log": 2}


def test_the_predict_walk_never_goes_back() -> None:
    """Read in PREDICT_WALK's order, every module the walk imports comes later: no stop sends
    the reader back to a module already read, and the rooms go api → scoring → monitoring/log."""
    graph = import_graph()
    position = {module: i for i, module in enumerate(PREDICT_WALK)}
    backwards = [
        f"{module} imports {target}, read before it"
        for module in PREDICT_WALK
        for target in sorted(graph[module])
        if position.get(target, len(PREDICT_WALK)) < position[module]
    ]
    assert backwards == []
    rooms = [ROOM_ORDER[module.split(".")[1]] for module in PREDICT_WALK]
    assert rooms == sorted(rooms)


def test_the_predict_walk_is_complete() -> None:
    """Whatever scoring/predict.py needs at run time inside scoring/, transitively, is on the
    walk, and so is every module of log/ and monitoring/ those modules call into (a new stop
    must be given its place in PREDICT_WALK). What the log and monitoring rooms do inside is
    theirs: their entry points are the walk's last stops."""
    graph = import_graph()
    scoring: set[str] = set()
    todo = [f"{PACKAGE}.scoring.predict"]
    while todo:
        for target in graph[todo.pop()]:
            if _room(target) == "scoring" and target not in scoring:
                scoring.add(target)
                todo.append(target)
    below = {
        target
        for module in scoring
        for target in graph[module]
        if _room(target) in ("log", "monitoring")
    }
    assert (scoring | below) - set(PREDICT_WALK) == set()
