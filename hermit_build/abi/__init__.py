"""Python view of the loader ABI defined in `spec.py` (cheap to import: stdlib only)."""

import struct
from types import SimpleNamespace

from .spec import CONSTANTS, EXCEPTIONS, HYPERCALLS, STRUCTS

C = SimpleNamespace(**CONSTANTS)
HC = SimpleNamespace(**HYPERCALLS)
HC_NAMES = {nr: name for name, nr in HYPERCALLS.items()}


class AbiStruct:
    """A struct of u64 fields at a guest address: unpack to a dict, pack from one."""

    def __init__(self, name: str, fields: list[str]):
        self.name = name
        self.fields = fields
        self.st = struct.Struct("<" + "Q" * len(fields))
        self.size = self.st.size
        self.offset = {f: i * 8 for i, f in enumerate(fields)}

    def unpack(self, data: bytes) -> dict[str, int]:
        return dict(zip(self.fields, self.st.unpack(data), strict=True))

    def pack(self, **values: int) -> bytes:
        unknown = values.keys() - self.offset.keys()
        if unknown:
            raise KeyError(f"struct {self.name} has no field {sorted(unknown)[0]!r}")
        return self.st.pack(*((values.get(f, 0) & 0xFFFFFFFFFFFFFFFF) for f in self.fields))


S = SimpleNamespace(**{name: AbiStruct(name, fields) for name, fields in STRUCTS.items()})


def signed(v: int) -> int:
    """A u64 field read back as the signed value the guest stored."""
    return v - (1 << 64) if v & (1 << 63) else v


__all__ = ["C", "HC", "HC_NAMES", "S", "EXCEPTIONS", "AbiStruct", "signed"]
