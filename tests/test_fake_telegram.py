"""The fake Bot API server, checked through the real python-telegram-bot client.

If these pass, PTB accepts every answer the fake gives (required fields present, errors mapped
to the right exception), so end-to-end bot tests can trust it.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, MessageHandler, filters

from tests.fake_telegram import BOT_ID, BOT_USERNAME, TOKEN, FakeTelegram

USER = 1001
FORUM = -1001234
GROUP = -1005678


@pytest.fixture
async def fake():
    async with FakeTelegram(forum_chats={FORUM}, members={(FORUM, 7): "administrator"}) as f:
        yield f


@pytest.fixture
async def bot(fake: FakeTelegram):
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(x, callback_data=x) for x in labels]])


async def test_get_me(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (BOT_ID, BOT_USERNAME, True)
    assert fake.sent("getme")[0].method == "getMe"


async def test_send_message_returns_a_full_message(bot: Bot, fake: FakeTelegram) -> None:
    fake.private_text(USER, "halo", first_name="Budi")
    msg = await bot.send_message(USER, "Selamat datang", reply_markup=keyboard("a", "b"))
    assert msg.message_id == 2  # the incoming message took id 1 in this chat
    assert msg.chat.type == "private" and msg.chat.first_name == "Budi"
    assert msg.from_user.id == BOT_ID
    assert msg.reply_markup == keyboard("a", "b")
    call = fake.sent("sendMessage", chat_id=USER)[0]
    assert call.params["chat_id"] == USER  # sent as the form string "1001"
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "a"
    assert fake.texts(USER) == ["Selamat datang"]


async def test_string_parameters_are_not_json_decoded(bot: Bot, fake: FakeTelegram) -> None:
    """PTB sends str values raw, so a text of "123" looks exactly like the int 123 would."""
    await bot.send_message(USER, "123")
    await bot.send_message(USER, "[1, 2]")
    assert fake.texts(USER) == ["123", "[1, 2]"]


async def test_text_limits(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(USER, "😀" * 2049)  # 4098 UTF-16 code units
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(USER, "  \n")
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert fake.calls[-2].error == (400, "Bad Request: message text is empty")
    assert fake.calls[-1].error is None


async def test_reply_and_reply_not_found(bot: Bot, fake: FakeTelegram) -> None:
    incoming = fake.private_text(USER, "tanya")["message"]
    msg = await bot.send_message(USER, "jawab", reply_to_message_id=incoming["message_id"])
    assert msg.reply_to_message.text == "tanya"
    with pytest.raises(BadRequest, match="replied not found"):
        await bot.send_message(USER, "x", reply_parameters=ReplyParameters(999))


async def test_copy_message_keeps_content(bot: Bot, fake: FakeTelegram) -> None:
    voice = {"file_id": "VOICE1", "file_unique_id": "v1", "duration": 3}
    src = fake.private_message(USER, voice=voice)["message"]
    copied = await bot.copy_message(GROUP, USER, src["message_id"], caption="dari warga")
    stored = fake.message(GROUP, copied.message_id)
    assert stored["voice"] == voice and stored["caption"] == "dari warga"
    assert stored["from"]["id"] == BOT_ID
    with pytest.raises(BadRequest, match="Message to copy not found"):
        await bot.copy_message(GROUP, USER, 999)
    fwd = await bot.forward_message(GROUP, USER, src["message_id"])
    assert fwd.voice.file_id == "VOICE1" and fwd.forward_origin.sender_user.id == USER


async def test_forum_topics(bot: Bot, fake: FakeTelegram) -> None:
    topic = await bot.create_forum_topic(FORUM, "Warga 1001")
    assert fake.topics[FORUM] == {topic.message_thread_id: "Warga 1001"}
    created = fake.message(FORUM, topic.message_thread_id)
    assert created["forum_topic_created"]["name"] == "Warga 1001"
    msg = await bot.send_message(FORUM, "halo", message_thread_id=topic.message_thread_id)
    assert msg.is_topic_message and msg.message_thread_id == topic.message_thread_id
    assert msg.reply_to_message.forum_topic_created is not None  # Telegram's topic quirk
    fake.delete_topic(FORUM, topic.message_thread_id)
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_message(FORUM, "lagi", message_thread_id=topic.message_thread_id)
    with pytest.raises(BadRequest, match="not a forum"):
        await bot.create_forum_topic(GROUP, "x")


async def test_group_text_in_topic_replies_to_creation_message(fake: FakeTelegram) -> None:
    fake.group_text(FORUM, 7, "pertama", thread_id=5)  # an admin-made topic, seen first here
    upd = Update.de_json(fake.group_text(FORUM, 7, "kedua", thread_id=5), None)
    assert upd.message.is_topic_message and upd.message.message_thread_id == 5
    assert upd.message.reply_to_message.message_id == 5
    assert upd.message.chat.is_forum
    first = upd.message.message_id - 1
    reply = Update.de_json(fake.group_text(FORUM, 7, "balas", reply_to=first, thread_id=5), None)
    assert reply.message.reply_to_message.text == "pertama"
    assert (
        "reply_to_message" not in fake.message(FORUM, reply.message.message_id)["reply_to_message"]
    )


async def test_commands_carry_bot_command_entities(bot: Bot, fake: FakeTelegram) -> None:
    upd = Update.de_json(fake.private_text(USER, "/start"), bot)
    assert upd.message.parse_entities() == {upd.message.entities[0]: "/start"}
    group = Update.de_json(fake.group_text(GROUP, 7, "😀 /tutup@tanya_test_bot 12"), bot)
    [entity] = group.message.entities
    assert (entity.type, entity.offset) == ("bot_command", 3)  # the emoji is 2 UTF-16 units
    assert group.message.parse_entity(entity) == "/tutup@tanya_test_bot"
    assert "entities" not in fake.private_text(USER, "a/b and /x/y")["message"]


async def test_blocked_chat_is_forbidden(bot: Bot, fake: FakeTelegram) -> None:
    fake.blocked.add(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "halo")
    assert fake.calls[-1].error == (403, "Forbidden: bot was blocked by the user")
    assert fake.sent("sendMessage") == []


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fail_next_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendmessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    # match the message: reading .retry_after warns (int today, timedelta in PTB 23)
    with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
        await bot.send_message(USER, "halo")
    await bot.send_message(USER, "halo")
    assert [c.error for c in fake.calls[-2:]] == [(429, "Too Many Requests: retry after 3"), None]


async def test_get_updates_offset_and_prompt_long_poll(bot: Bot, fake: FakeTelegram) -> None:
    fake.private_text(USER, "satu")
    fake.private_text(USER, "dua")
    first = await bot.get_updates()
    assert [u.update_id for u in first] == [1, 2] and fake.pending_updates == 2
    assert [u.message.text for u in await bot.get_updates(offset=2)] == ["dua"]
    assert fake.pending_updates == 1  # update 1 confirmed for good
    assert await bot.get_updates(offset=3, timeout=0) == ()

    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(offset=3, timeout=10))
    await asyncio.sleep(0.2)
    fake.private_text(USER, "tiga")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.message.text for u in updates] == ["tiga"]
    assert time.monotonic() - started < 2


async def test_stop_ends_a_pending_long_poll() -> None:
    fake = FakeTelegram()
    await fake.start()
    async with httpx.AsyncClient() as client:
        poll = asyncio.create_task(
            client.post(f"{fake.base_url}{TOKEN}/getUpdates", data={"timeout": "30"})
        )
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await fake.stop()
        response = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 2
    assert response.json() == {"ok": True, "result": []}


async def test_media_updates_and_edits(bot: Bot, fake: FakeTelegram) -> None:
    photo = [{"file_id": "P1", "file_unique_id": "p1", "width": 90, "height": 90}]
    src = fake.private_message(USER, photo=photo, caption="jalan rusak")["message"]
    copied = await bot.copy_message(FORUM, USER, src["message_id"])
    assert fake.texts(FORUM) == ["jalan rusak"]
    reply = fake.group_message(
        FORUM,
        7,
        reply_to=copied.message_id,
        voice={"file_id": "V", "file_unique_id": "v", "duration": 2},
    )
    upd = Update.de_json(reply, bot)
    assert upd.message.voice.file_id == "V"
    assert upd.message.reply_to_message.photo[0].file_id == "P1"
    edited = Update.de_json(fake.edited_private_text(USER, src["message_id"], "baru"), bot)
    assert edited.edited_message.text == "baru" and edited.update_id == 3
    gone = fake.callback(USER, "x", chat_id=USER, message_id=999)
    assert not Update.de_json(gone, bot).callback_query.message.is_accessible


async def test_edit_message_text(bot: Bot, fake: FakeTelegram) -> None:
    msg = await bot.send_message(USER, "Memuat...", reply_markup=keyboard("x"))
    edited = await bot.edit_message_text(
        "Selesai", USER, msg.message_id, reply_markup=keyboard("y")
    )
    assert edited.text == "Selesai" and edited.edit_date is not None
    assert fake.texts(USER) == ["Selesai"]
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Selesai", USER, msg.message_id, reply_markup=keyboard("y"))
    await bot.edit_message_reply_markup(USER, msg.message_id)
    assert "reply_markup" not in fake.message(USER, msg.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", USER, 999)
    assert await bot.delete_message(USER, msg.message_id)
    assert fake.texts(USER) == []


async def test_get_chat_and_member(bot: Bot, fake: FakeTelegram) -> None:
    chat = await bot.get_chat(FORUM)
    assert chat.is_forum and chat.type == "supergroup"
    private = await bot.get_chat(USER)
    assert private.type == "private" and not private.is_forum
    admin = await bot.get_chat_member(FORUM, 7)
    assert admin.status == "administrator" and admin.can_manage_topics
    assert (await bot.get_chat_member(FORUM, 8)).status == "member"


async def test_callback_query_carries_the_stored_message(bot: Bot, fake: FakeTelegram) -> None:
    msg = await bot.send_message(USER, "Pilih", reply_markup=keyboard("ya"))
    raw = fake.callback(USER, "ya", chat_id=USER, message_id=msg.message_id)
    query = Update.de_json(raw, bot).callback_query
    assert query.data == "ya" and query.message.text == "Pilih"
    assert await query.answer()


async def test_upload_and_download(bot: Bot, fake: FakeTelegram) -> None:
    photo = await bot.send_photo(USER, b"\x89PNG fake bytes", caption="foto")
    call = fake.sent("sendPhoto")[0]
    assert call.params["caption"] == "foto" and call.params["photo"]["size"] == 15
    file = await bot.get_file(photo.photo[-1].file_id)
    assert await file.download_as_bytearray() == bytearray(b"\x89PNG fake bytes")
    loc = await bot.send_location(USER, -6.2, 106.8)
    assert loc.location.latitude == pytest.approx(-6.2)
    doc = await bot.send_document(USER, "DOCID")
    assert doc.document.file_id == "DOCID"


async def test_raw_protocol_details(fake: FakeTelegram) -> None:
    async with httpx.AsyncClient() as client:
        ok = await client.post(
            f"{fake.base_url}{TOKEN}/SENDMESSAGE", json={"chat_id": "-100123", "text": "json body"}
        )
        bad_token = await client.post(f"{fake.base_url}1:wrong/getMe")
        unknown = await client.post(f"{fake.base_url}{TOKEN}/fooBar")
    assert ok.json()["result"]["chat"]["id"] == -100123
    assert fake.sent("sendMessage", chat_id=-100123)[0].method == "sendMessage"
    assert (bad_token.status_code, bad_token.json()["description"]) == (401, "Unauthorized")
    assert unknown.status_code == 404 and unknown.json()["error_code"] == 404


async def test_unknown_method_and_bad_token_through_ptb(bot: Bot, fake: FakeTelegram) -> None:
    # PTB maps 404 to InvalidToken, then do_api_request turns it into EndPointNotFound
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("foo_bar")
    with pytest.raises(InvalidToken):
        async with Bot("1:wrong", base_url=fake.base_url):  # initialize() calls getMe
            pass
    assert fake.calls[-1].error == (401, "Unauthorized")


async def test_wait_for_times_out_with_a_summary(bot: Bot, fake: FakeTelegram) -> None:
    await bot.send_message(USER, "halo")
    with pytest.raises(AssertionError, match=r"sendMessage .*-> ok"):
        await fake.wait_sent("sendPhoto", timeout=0.1)


async def test_application_round_trip(fake: FakeTelegram) -> None:
    async def echo(update: Update, context: object) -> None:
        await update.message.reply_text(f"kamu bilang: {update.message.text}")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )

    async def start(update: Update, context: object) -> None:
        await update.message.reply_text("selamat datang")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=5)
        fake.private_text(USER, "halo")
        await fake.wait_sent("sendMessage", USER)
        fake.private_text(USER, "/start")
        await fake.wait_sent("sendMessage", USER, count=2)
        await app.updater.stop()
        await app.stop()
    assert fake.texts(USER) == ["kamu bilang: halo", "selamat datang"]
    assert fake.pending_updates == 0  # PTB confirmed the update on shutdown
