"""Shared fixtures: real YAML files in temporary folders, the bundled and public knowledge."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_KB = ROOT / "knowledge"
PUBLIC_EVAL = ROOT.parent / "shared" / "eval" / "public"
HOLDOUT_EVAL = ROOT / "tests" / "eval" / "holdout"

VALID_OPD = """\
opd:
  id: disdukcapil
  name: Dinas Kependudukan dan Pencatatan Sipil
  contact: "Jl. Contoh No. 1, Senin-Jumat 08.00-15.00"
entries:
  - id: ktp-el-baru
    questions:
      - Bagaimana cara membuat KTP elektronik untuk pertama kali?
    keywords: [ktp, e-ktp, ktp-el]
    answer: |
      Datang ke kantor dengan KK. Gratis.
    links: [https://example.org/ktp]
    updated: 2024-07-25
  - id: akta-kelahiran
    questions:
      - Apa syarat membuat akta kelahiran anak?
    answer: Surat keterangan lahir, KK, buku nikah. Gratis.
"""


@pytest.fixture
def write_kb(tmp_path: Path) -> Callable[..., Path]:
    """Write files into a fresh knowledge folder: write_kb(**{"name.yaml": text})."""

    def write(files: dict[str, str | bytes] | None = None, **named: str | bytes) -> Path:
        folder = tmp_path / "knowledge"
        folder.mkdir(exist_ok=True)
        for name, content in {**(files or {}), **named}.items():
            target = folder / name
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(textwrap.dedent(content), encoding="utf-8")
        return folder

    return write
