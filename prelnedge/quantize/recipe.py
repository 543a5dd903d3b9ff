"""Mixed-precision recipes: which units of a model keep more bits than the mode gives the rest.

A recipe names a base mode and the units (prelnedge.quantize.units) that fall back to a wider
precision: `float` for the int8 modes, `int8` or `float` for int4. It is a small JSON file
(`prelnedge tune` writes one; a user may write one by hand), recorded in the quantized folder's
manifest (quantization.settings.recipe) and replayed by `prelnedge quantize EXPORT --recipe FILE`,
which rebuilds the same model: the quantizers are deterministic for a given export, calibration set
and recipe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from prelnedge.errors import UserError

RECIPE_FORMAT = "prelnedge-recipe/1"
# mode -> the precisions a unit may take, narrowest first (the first is the mode's own)
PRECISIONS = {("onnx", "int8-dynamic"): ("int8", "float"), ("onnx", "int8-static"): ("int8", "float"),
              ("onnx", "int4"): ("int4", "int8", "float"), ("tflite", "int8-static"): ("int8", "float")}
# the op types each mode quantizes (prelnedge.quantize.units); ONNX Runtime's dynamic quantizer alone
# also takes Gemm (a pooled head's dense layers), as MatMul + Add
UNIT_OPS = {("onnx", "int8-dynamic"): ("MatMul", "Gemm", "Gather")}
DEFAULT_UNIT_OPS = ("MatMul", "Gather")


def recipe_modes() -> list[str]:
    return [f"{target} {mode}" for target, mode in PRECISIONS]


@dataclass(frozen=True)
class Recipe:
    target: str
    mode: str
    # unit name -> precision wider than the mode's own; sorted by name so equal recipes hash equally
    overrides: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if (self.target, self.mode) not in PRECISIONS:
            raise UserError(f"mode {self.mode} on {self.target} takes no mixed-precision recipe; recipes exist for "
                            f"{', '.join(recipe_modes())}")
        allowed = self.precisions[1:]
        for unit, precision in self.overrides:
            if precision not in allowed:
                raise UserError(f"recipe unit {unit!r}: precision {precision!r} is not a fallback of {self.mode}; "
                                f"allowed: {', '.join(allowed)}")
        object.__setattr__(self, "overrides", tuple(sorted(dict(self.overrides).items())))

    @property
    def precisions(self) -> tuple[str, ...]:
        return PRECISIONS[(self.target, self.mode)]

    @property
    def unit_ops(self) -> tuple[str, ...]:
        return UNIT_OPS.get((self.target, self.mode), DEFAULT_UNIT_OPS)

    @property
    def default(self) -> str:
        return self.precisions[0]

    def precision(self, unit: str) -> str:
        return dict(self.overrides).get(unit, self.default)

    def with_unit(self, unit: str, precision: str) -> "Recipe":
        overrides = dict(self.overrides)
        if precision == self.default:
            overrides.pop(unit, None)
        else:
            overrides[unit] = precision
        return Recipe(self.target, self.mode, tuple(overrides.items()))

    def nodes(self, units, precision: str) -> list[str]:
        """Graph nodes of the units at `precision` (units: prelnedge.quantize.units.Unit list)."""
        return [node for unit in units if self.precision(unit.name) == precision for node in unit.nodes]

    def check_units(self, names: list[str], where: str) -> None:
        unknown = [unit for unit, _ in self.overrides if unit not in names]
        if unknown:
            raise UserError(f"recipe names unit(s) {', '.join(map(repr, unknown))} that {where} does not have; "
                            f"its units: {', '.join(names)}")

    def to_json(self) -> dict:
        return {"format": RECIPE_FORMAT, "target": self.target, "mode": self.mode, "default": self.default,
                "units": dict(self.overrides)}

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()

    def describe(self) -> str:
        if not self.overrides:
            return f"{self.mode}, every unit {self.default}"
        return f"{self.mode}; " + ", ".join(f"{unit} {precision}" for unit, precision in self.overrides)

    @classmethod
    def from_json(cls, data: dict, where: str = "recipe") -> "Recipe":
        if not isinstance(data, dict) or data.get("format") != RECIPE_FORMAT:
            raise UserError(f"{where} is not a prelnedge recipe (its \"format\" must be {RECIPE_FORMAT!r})")
        units = data.get("units", {})
        if not isinstance(units, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in units.items()):
            raise UserError(f"{where}: \"units\" must map unit names to precisions")
        for key in ("target", "mode"):
            if not isinstance(data.get(key), str):
                raise UserError(f"{where}: needs a string {key!r}")
        return cls(data["target"], data["mode"], tuple(units.items()))

    @classmethod
    def read(cls, path: Path) -> "Recipe":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"recipe file {path} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"recipe file {path} is not JSON ({exc})") from None
        return cls.from_json(data, f"recipe file {path}")
