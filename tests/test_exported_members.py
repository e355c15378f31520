from __future__ import annotations

import deepprune


def test_all_is_the_public_surface() -> None:
    public = {name for name in dir(deepprune) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(deepprune, name)).__name__ == "module"}
    assert set(deepprune.__all__) == public - modules - {"annotations"}
    assert len(deepprune.__all__) == len(set(deepprune.__all__))
