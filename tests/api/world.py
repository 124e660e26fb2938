"""Ids of things in the demo government that tests poke at."""
import sqlalchemy as sa

from models import Document, InboxItem, Resolution, Task, db


def build(login, demo) -> dict:
    """Add a draft by exec1 and a device of exec1 to the demo data; return the ids tests need."""
    exec1 = login("exec1")
    doc = db.session.scalar(sa.select(Document).where(Document.reg_number.like("МЦР-1/%")))
    draft = exec1.post(f"/documents/{doc.id}/resolutions",
                       json={"text": "Подготовить ответ", "executors": [str(demo["employee1"].id)]}).get_json()
    device = exec1.post("/devices", json={"token": "tok-exec1", "platform": "android"}).get_json()
    issued = db.session.scalar(sa.select(Resolution).where(Resolution.status == "issued"))
    task = db.session.scalar(sa.select(Task).where(Task.executor_id == demo["exec1"].id))
    item = db.session.scalar(sa.select(InboxItem).where(InboxItem.user_id == demo["exec1"].id))
    return {"doc": doc.id, "attachment": doc.attachments[0].id, "draft": int(draft["id"]), "issued": issued.id,
            "task": task.id, "item": item.id, "device": int(device["id"]), "exec1": exec1}
