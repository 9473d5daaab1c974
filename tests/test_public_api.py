"""The public API: everything in ``oneloop.__all__`` exists, and nothing
public is left out of it."""

import types

import oneloop


def test_all_is_complete_and_honest():
    for name in oneloop.__all__:
        assert hasattr(oneloop, name), name
    public = {
        name
        for name, value in vars(oneloop).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(oneloop.__all__)
