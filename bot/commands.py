"""The commands tanya answers, in one place: the Telegram handlers register these, and the
terminal chat (`tanya chat`) offers the same ones."""

from __future__ import annotations

# In a resident's private chat.
RESIDENT_COMMANDS = (
    "start",
    "bantuan",
    "menu",
    "status",
    "permohonan",
    "keberatan",
    "batal",
    "kembali",
    "langganan",
    "berhenti",
)
# In the admin group ("permohonan" there lists the open requests).
ADMIN_COMMANDS = (
    "antrian",
    "tiket",
    "tutup",
    "statistik",
    "ambil",
    "kirim",
    "pindah",
    "bantuan_admin",
    "blokir",
    "buka_blokir",
    "muat_ulang",
    "faq",
    "permohonan",
    "daftar_permohonan",
    "perpanjang",
    "jawab",
    "tolak",
    "umumkan",
    "klarifikasi",
)
