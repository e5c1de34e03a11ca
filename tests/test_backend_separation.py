"""The two backends are peers: no C-backed module imports linuxmm.reference, and the reference
models import no C-backed class (shared checks, constants and formulas live in modules both
import)."""
import ast
import glob
import os

PKG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "linuxmm")
C_BACKED = ("page_alloc", "mmu", "buddy", "_ffi", "_core")


def imports(path):
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield ("." * node.level) + (node.module or ""), [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_c_backed_modules_never_import_the_reference():
    for path in glob.glob(os.path.join(PKG, "**", "*.py"), recursive=True):
        if os.sep + "reference" + os.sep in path:
            continue
        for module, names in imports(path):
            assert "reference" not in module.split("."), (path, module)
            if module in (".", ".."):
                assert "reference" not in names, (path, names)


def test_reference_never_imports_c_backed_classes():
    for path in glob.glob(os.path.join(PKG, "reference", "*.py")):
        for module, _ in imports(path):
            last = module.lstrip(".").split(".")
            assert not (module.startswith("..") and last[0] in C_BACKED), (path, module)
