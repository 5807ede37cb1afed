"""Run Python code that must not import some modules: a checked subprocess script.

The prelude puts a finder first on ``sys.meta_path`` that refuses every listed module (and its
submodules) with ModuleNotFoundError and remembers it; at exit the process fails with status 3
naming them, so an import that some library catches and ignores still fails the check.
"""

from __future__ import annotations

_PRELUDE = """
import atexit, importlib.abc, os, sys
_BLOCKED = {blocked!r}
_TRIED = []
class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in _BLOCKED):
            _TRIED.append(name)
            raise ModuleNotFoundError(f"{{name}} is refused here", name=name)
        return None
sys.meta_path.insert(0, _Refuse())
def _report():
    if _TRIED:
        sys.stderr.write(f"imported what must not be imported: {{sorted(set(_TRIED))}}\\n")
        sys.stderr.flush()
        os._exit(3)
atexit.register(_report)
"""


def guarded(blocked: list[str] | tuple[str, ...], code: str) -> str:
    """``code`` behind the prelude refusing ``blocked``: a script for ``python -c``."""
    return _PRELUDE.format(blocked=sorted(blocked)) + code
