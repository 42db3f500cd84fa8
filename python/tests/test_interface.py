"""The crowd-kit interface, class by class: names, constructor parameters and defaults, every
public method's signature (inspect.signature, annotations included), and nothing extra."""
import inspect

import pytest

import tessera.aggregation as T

CLASSES = ["MajorityVote", "Wawa", "ZeroBasedSkill", "GoldMajorityVote", "DawidSkene", "OneCoinDawidSkene", "GLAD", "MACE", "KOS", "MMSR"]


def public_methods(cls):
    return sorted(n for n, v in inspect.getmembers(cls, callable) if not n.startswith("_"))


def normalised(sig):
    """attrs' NOTHING default (crowd-kit's MMSR matrices) compares by name: tessera does not
    depend on attrs."""
    params = [p.replace(default="NOTHING") if repr(p.default) == "NOTHING" else p for p in sig.parameters.values()]
    return sig.replace(parameters=params)


def test_same_classes(crowdkit):
    assert sorted(T.__all__) == sorted(CLASSES)
    for name in CLASSES:
        assert hasattr(crowdkit, name), name


@pytest.mark.parametrize("name", CLASSES)
def test_constructor_signature(name, crowdkit):
    ours, theirs = getattr(T, name), getattr(crowdkit, name)
    assert normalised(inspect.signature(ours)) == normalised(inspect.signature(theirs))


@pytest.mark.parametrize("name", CLASSES)
def test_method_signatures(name, crowdkit):
    ours, theirs = getattr(T, name), getattr(crowdkit, name)
    assert public_methods(ours) == public_methods(theirs)
    for m in public_methods(theirs):
        assert inspect.signature(getattr(ours, m)) == inspect.signature(getattr(theirs, m)), f"{name}.{m}"


@pytest.mark.parametrize("name", CLASSES)
def test_docstrings(name):
    cls = getattr(T, name)
    assert cls.__doc__ and len(cls.__doc__) > 80
    for m in public_methods(cls):
        assert getattr(cls, m).__doc__, f"{name}.{m} has no docstring"


def test_defaults_equal(crowdkit):
    """Constructed with no arguments, the parameters crowd-kit shows are the same values."""
    for name in CLASSES:
        ours, theirs = getattr(T, name)(), getattr(crowdkit, name)()
        for p in inspect.signature(getattr(T, name)).parameters:
            if hasattr(ours, p) and hasattr(theirs, p):
                assert getattr(ours, p) == getattr(theirs, p), f"{name}.{p}"


def test_native_stub_covers_the_module():
    """tessera/_tessera.pyi (shipped in the wheel) types every function and class of the native module."""
    import ast
    import pathlib

    import tessera
    from tessera import _tessera

    stub = pathlib.Path(tessera.__file__).parent / "_tessera.pyi"
    assert (stub.parent / "py.typed").is_file()
    typed = {f.name for f in ast.parse(stub.read_text()).body if isinstance(f, (ast.FunctionDef, ast.ClassDef))}
    assert typed == {n for n in dir(_tessera) if not n.startswith("_") and callable(getattr(_tessera, n))}
